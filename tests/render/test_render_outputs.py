"""An output folder that cannot be written (a file in its place, a full disk, no permission) ends the
run with one line on stderr and exit 2; freeing the space and rerunning resumes it."""

from __future__ import annotations

import errno
import os
import subprocess
import uuid

import pytest

from cascade.render import read_records
from cascade.render import writer as writer_module
from cascade.render.__main__ import main
from tests.render.render_helpers import PROMPTS, pngs, write_lines


@pytest.fixture()
def command(tmp_path, own_folder):
    prompts = write_lines(tmp_path / "p.txt", PROMPTS)

    def command(out, size=16):
        return [str(prompts), "--out", str(out), "--model", str(own_folder), "--size", str(size),
                "--steps", "2", "--batch-size", "2", "--no-progress"]  # fmt: skip

    return command


def assert_one_line_error(err: str, *words: str) -> None:
    lines = [line for line in err.splitlines() if line.startswith("cascade render: error:")]
    assert len(lines) == 1 and all(word in lines[0] for word in words), err
    assert "Traceback" not in err


def assert_resumable(out, command, clean, capsys, size=16):
    """A rerun ends with every image, each recorded once, byte-equal to a clean run's."""
    assert main(command(out, size)) == 0
    assert main(command(clean, size)) == 0
    capsys.readouterr()
    assert pngs(out) == pngs(clean) and len(pngs(out)) == len(PROMPTS)
    files = [r["file"] for r in read_records(out) if r["type"] == "image"]
    assert sorted(files) == sorted(pngs(out))
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_an_out_path_that_is_a_file_is_a_one_line_error_with_exit_2(tmp_path, command, capsys):
    (tmp_path / "taken").write_text("not a folder")
    assert main(command(tmp_path / "taken")) == 2
    assert_one_line_error(capsys.readouterr().err, "taken", "not a folder")


def test_a_full_disk_stops_the_run_with_exit_2_and_a_rerun_resumes(tmp_path, command, monkeypatch, capsys):
    real_write, written = os.write, []

    def write(fd, data):  # the third image's bytes find the disk full
        if len(data) > 500 and bytes(data[:4]) == b"\x89PNG":
            written.append(fd)
            if len(written) == 3:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, data)

    monkeypatch.setattr(writer_module.os, "write", write)
    out = tmp_path / "out"
    assert main(command(out)) == 2
    assert_one_line_error(capsys.readouterr().err, "No space left on device", "rerun")
    assert len(pngs(out)) == 2 and not [p for p in out.iterdir() if p.name.startswith(".")]
    monkeypatch.undo()
    assert_resumable(out, command, tmp_path / "clean", capsys)


def test_a_full_manifest_write_leaves_no_part_record_and_a_rerun_resumes(
    tmp_path, command, monkeypatch, capsys
):
    from cascade.render import manifest as manifest_module

    real_fsync, calls = os.fsync, []

    def fsync(fd):  # the manifest's fourth fsynced record does not fit
        if os.readlink(f"/proc/self/fd/{fd}").endswith("manifest.jsonl"):
            calls.append(fd)
            if len(calls) == 4:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_fsync(fd)

    monkeypatch.setattr(manifest_module.os, "fsync", fsync)
    out = tmp_path / "out"
    assert main(command(out)) == 2
    assert_one_line_error(capsys.readouterr().err, "manifest.jsonl", "No space left on device")
    assert (out / "manifest.jsonl").read_bytes().endswith(b"\n")
    monkeypatch.undo()
    assert_resumable(out, command, tmp_path / "clean", capsys)


@pytest.fixture()
def small_tmpfs(tmp_path):
    """A 1 MiB tmpfs, where the platform lets this process mount one."""
    mount = tmp_path / f"tmpfs-{uuid.uuid4().hex[:6]}"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip() or done.returncode})")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_real_full_disk_stops_with_exit_2_and_a_rerun_after_freeing_space_resumes(
    tmp_path, small_tmpfs, command, capsys
):
    filler = small_tmpfs / "filler"
    free = os.statvfs(small_tmpfs)
    filler.write_bytes(b"\0" * (free.f_bavail * free.f_frsize - 40_000))  # room for a few images only
    out = small_tmpfs / "out"
    assert main(command(out, 64)) == 2
    assert_one_line_error(capsys.readouterr().err, "No space left on device")
    assert 0 < len(pngs(out)) < len(PROMPTS)
    filler.unlink()
    assert_resumable(out, command, tmp_path / "clean", capsys, 64)


@pytest.mark.skipif(
    os.geteuid() == 0, reason="root writes to read-only folders; permissions cannot be tested"
)
def test_a_folder_without_write_permission_is_a_one_line_error_with_exit_2(tmp_path, command, capsys):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    assert main(command(locked / "out")) == 2
    assert_one_line_error(capsys.readouterr().err, "Permission denied")


def test_permission_denied_on_an_image_is_a_one_line_error_with_exit_2(
    tmp_path, command, monkeypatch, capsys
):
    real_open = os.open

    def refuse(path, *args, **kwargs):
        if str(path).endswith(".png.tmp-" + str(os.getpid())):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(writer_module.os, "open", refuse)
    assert main(command(tmp_path / "out")) == 2
    assert_one_line_error(capsys.readouterr().err, "1_0.png", "Permission denied")
