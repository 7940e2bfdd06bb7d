"""Output paths: refused before any work when writing them would fail or replace a file that is not ours."""

import os

import pytest

from jaxsgd import paths
from jaxsgd.errors import OutputError

PNG = b"\x89PNG\r\n\x1a\n" + bytes(8)


def test_new_file_in_an_existing_folder_is_fine(tmp_path):
    assert paths.check_output(tmp_path / "new.npz", argument="save") == str(tmp_path / "new.npz")
    assert os.listdir(tmp_path) == []  # the write probe leaves nothing behind


@pytest.mark.parametrize(
    ("target", "needle"),
    [
        (lambda d: d, "is a directory"),
        (lambda d: d / "missing" / "x.npz", "does not exist"),
        (lambda d: d / "data.csv", "is the file given as csv"),
        (lambda d: d / "link.csv", "is the file given as csv"),  # a symbolic link to the input
        (lambda d: d / "notes.txt", "exists and is not a jaxsgd checkpoint"),
        (lambda d: "/dev/null", "not a regular file"),
    ],
)
def test_refused_with_the_reason(tmp_path, target, needle):
    (tmp_path / "data.csv").write_text("a,y\n1,2\n")
    (tmp_path / "link.csv").symlink_to(tmp_path / "data.csv")
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(OutputError, match=needle) as e:
        paths.check_output(target(tmp_path), argument="save", others={"csv": tmp_path / "data.csv"},
                           replaceable=lambda p: False, what="a jaxsgd checkpoint")
    assert str(e.value).startswith("save ") and "\n" not in str(e.value)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_replaceable_file_is_fine(tmp_path):
    old = tmp_path / "old.npz"
    old.write_text("ours")
    assert paths.check_output(old, argument="save", replaceable=lambda p: True)


def test_unwritable_folder(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        if os.access(ro, os.W_OK) and os.geteuid() == 0:
            pytest.skip("root writes into read-only folders")
        with pytest.raises(OutputError, match="cannot write in"):
            paths.check_output(ro / "x.npz", argument="save")
    finally:
        ro.chmod(0o700)


def test_plot_rule(tmp_path):
    with pytest.raises(OutputError, match="image extension"):
        paths.check_plot_path(tmp_path / "curves")
    with pytest.raises(OutputError, match="image extension"):
        paths.check_plot_path(tmp_path / "data.csv")
    (tmp_path / "old.png").write_bytes(PNG)
    assert paths.check_plot_path(tmp_path / "old.png")  # an image of ours may be redrawn
    (tmp_path / "photo.pdf").write_bytes(PNG)  # a PNG named .pdf: not what --plot would write there
    with pytest.raises(OutputError, match="not an image of that format"):
        paths.check_plot_path(tmp_path / "photo.pdf")
    (tmp_path / "table.png").write_text("a,b\n1,2\n")
    with pytest.raises(OutputError, match="left alone"):
        paths.check_plot_path(tmp_path / "table.png")
    with pytest.raises(OutputError, match="is the file given as csv"):
        paths.check_plot_path(tmp_path / "old.png", others={"csv": tmp_path / "old.png"})


def test_write_atomically_keeps_the_old_file_on_failure(tmp_path):
    p = tmp_path / "f.bin"
    paths.write_atomically(p, lambda f: f.write(b"first"))
    assert p.read_bytes() == b"first"

    def fail(f):
        f.write(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        paths.write_atomically(p, fail)
    assert p.read_bytes() == b"first" and os.listdir(tmp_path) == ["f.bin"]
    umask = os.umask(0o022)
    os.umask(umask)
    assert p.stat().st_mode & 0o777 == 0o666 & ~umask  # not the temporary file's 0o600


def test_write_atomically_leaves_a_file_that_appeared_since_the_check(tmp_path):
    p = tmp_path / "run.npz"
    checked = paths.file_id(p)  # nothing there when the run started
    p.write_bytes(b"someone else's")
    with pytest.raises(OutputError, match=r"^save .*run\.npz: a file appeared there while this run was working"):
        paths.write_atomically(p, lambda f: f.write(b"ours"), argument="save",
                               replaceable=lambda q: paths.file_id(q) == checked)
    assert p.read_bytes() == b"someone else's" and os.listdir(tmp_path) == ["run.npz"]


def test_write_atomically_replaces_the_file_it_wrote_itself(tmp_path):
    p = tmp_path / "run.npz"
    mine = paths.write_atomically(p, lambda f: f.write(b"epoch 1"))
    again = paths.write_atomically(p, lambda f: f.write(b"epoch 2"), replaceable=mine)
    assert p.read_bytes() == b"epoch 2" and again == paths.file_id(p) != mine
    with pytest.raises(OutputError, match="appeared"):  # by default nothing is replaced
        paths.write_atomically(p, lambda f: f.write(b"epoch 3"))


def test_a_full_disk_names_the_path_and_the_fix(tmp_path):
    import errno

    def full(f):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(OutputError) as e:
        paths.write_atomically(tmp_path / "run.npz", full, argument="save")
    assert e.value.render(lambda a: "--" + a) == (f"--save {tmp_path / 'run.npz'}: cannot write: No space left on "
                                                  "device; free space there or choose another --save")
    assert os.listdir(tmp_path) == []
