"""Finding a records folder's logs by what they print, and the runs they hold."""

from __future__ import annotations

import os

from auditor.record.folder import read_folder

RUN = "seed:7\nstep:10/100 val_loss:2.0 val_bpb:1.2 train_time:1000ms step_avg:100.00ms\n" \
      "final_int8_zlib_roundtrip_exact val_loss:2.00000000 val_bpb:1.20000000\n"


def test_logs_are_recognised_by_content_in_any_name_and_depth(tmp_path):
    (tmp_path / "logs" / "a").mkdir(parents=True)
    (tmp_path / "logs" / "a" / "run_output").write_text(RUN)  # no suffix
    (tmp_path / "seed42.txt").write_text(RUN.replace("seed:7", "seed:42"))
    (tmp_path / "notes.txt").write_text("just notes, no run\n")
    (tmp_path / "train.log").write_text("the run died before printing anything useful\n")
    (tmp_path / "requirements.txt").write_text("torch\n")
    folder = read_folder(tmp_path)
    assert sorted(folder.logs) == ["logs/a/run_output", "seed42.txt"]
    assert folder.unrecognised_logs == ("train.log",)
    assert sorted(run.seed for run in folder.runs) == [7, 42]


def test_links_out_of_the_folder_are_not_read(tmp_path):
    outside = tmp_path / "outside.log"
    outside.write_text(RUN)
    inside = tmp_path / "rec"
    inside.mkdir()
    os.symlink(outside, inside / "train.log")
    assert read_folder(inside).logs == {} and read_folder(inside).files == ()


def test_location_under_records(tmp_path):
    path = tmp_path / "records" / "track_10min_16mb" / "2026-04-01_X"
    path.mkdir(parents=True)
    assert read_folder(path).location == ("track_10min_16mb", "2026-04-01_X")
    assert read_folder(tmp_path).location is None
