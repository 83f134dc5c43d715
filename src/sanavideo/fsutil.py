"""Atomic writes: write to a temporary sibling (a file or a folder), then rename it onto the target."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


def check_writable(path: str | Path, expected: str = "a file path") -> None:
    """Refuse, before any work, an output path that names a folder or lies under a file."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"output {path} is a directory; expected {expected}")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ValueError(f"cannot write {path}: {parent} is a file, not a directory")
            break


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def new_file_mode() -> int:
    """The permission bits a newly created file gets under the current umask (0644 under umask 022)."""
    return 0o666 & ~_umask()


def publish(tmp: str | Path, target: str | Path) -> None:
    """Rename a finished temporary file onto `target` in one step. It gets the mode `target` has, or that of a
    new file under the umask: temporary files are created 0600, which no output should keep."""
    target = Path(target)
    try:
        mode = target.stat().st_mode & 0o7777
    except FileNotFoundError:
        mode = new_file_mode()
    os.chmod(tmp, mode)
    os.replace(tmp, target)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


# folder -> hidden `.tmp` names found there when this process first wrote into it: the only candidates for
# a killed writer's leftovers, so that writing N files into one folder lists it once, not N times
_TEMP_CANDIDATES: dict[Path, set[str]] = {}


def _temp_candidates(folder: Path) -> set[str]:
    key = folder.resolve()
    if key not in _TEMP_CANDIDATES:
        with os.scandir(folder) as entries:
            _TEMP_CANDIDATES[key] = {e.name for e in entries if e.name.startswith(".") and ".tmp" in e.name}
    return _TEMP_CANDIDATES[key]


def temp_sibling(target: str | Path, directory: bool = False) -> Path:
    """Create a hidden temporary file (or folder) next to `target`, named `.NAME.PID.XXXX.tmp<suffix>`, after
    removing the ones that earlier writers of the same target left when they were killed (their PID is gone;
    the folder is looked at once per process)."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    prefix, suffix = f".{target.name}.", ".tmp" + target.suffix
    candidates = _temp_candidates(target.parent)
    for name in [n for n in candidates if n.startswith(prefix) and n.endswith(suffix)]:
        candidates.discard(name)
        pid = name[len(prefix) :].split(".", 1)[0]
        stale = target.parent / name
        if pid.isdigit() and not _pid_alive(int(pid)):
            if stale.is_dir():
                shutil.rmtree(stale, ignore_errors=True)
            else:
                stale.unlink(missing_ok=True)
    prefix += f"{os.getpid()}."
    if directory:
        return Path(tempfile.mkdtemp(prefix=prefix, suffix=suffix, dir=target.parent))
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=target.parent)
    os.close(fd)
    return Path(tmp)


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to `target`; on success it replaces `target` (keeping an existing file's
    mode, else the umask's), on error it is deleted."""
    target = Path(target)
    tmp_path = temp_sibling(target)
    try:
        yield tmp_path
        publish(tmp_path, target)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def _carry_over(old: Path, new: Path) -> None:
    """Give `new` every entry of `old` that it does not have (hard links, or copies across file systems), so
    that replacing `old` by `new` keeps the files the writer did not write; `old` stays untouched."""

    def link(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    for entry in old.iterdir():
        if not (new / entry.name).exists():
            if entry.is_dir() and not entry.is_symlink():
                shutil.copytree(entry, new / entry.name, symlinks=True, copy_function=link)
            else:
                link(str(entry), str(new / entry.name))


def publish_folder(tmp: str | Path, target: str | Path, keep_others: bool = False) -> None:
    """Put a finished temporary folder in `target`'s place: its folders get the umask's mode (mkdtemp makes
    0700) and its files too (safetensors writes 0600); with `keep_others`, entries of an existing `target` that
    the new folder lacks are carried over first. An existing `target` is renamed to a hidden temporary name, then
    deleted. A writer killed between the two renames leaves no `target`, and the old folder under that hidden
    name, which the next writer of `target` removes."""
    tmp, target = Path(tmp), Path(target)
    file_mode, dir_mode = new_file_mode(), 0o777 & ~_umask()
    for folder, _, files in os.walk(tmp):
        os.chmod(folder, dir_mode)
        for name in files:
            os.chmod(os.path.join(folder, name), file_mode)
    if target.exists() and keep_others:
        _carry_over(target, tmp)
    if target.exists():
        old = temp_sibling(target, directory=True)  # empty: renaming a folder onto it replaces it
        os.rename(target, old)
        os.rename(tmp, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(tmp, target)


@contextlib.contextmanager
def atomic_folder(target: str | Path, keep_others: bool = False) -> Iterator[Path]:
    """Yield a temporary folder next to `target`; on success it takes `target`'s place (`publish_folder`; with
    `keep_others` the files of an existing `target` that the writer did not write stay), on error it is
    deleted."""
    target = Path(target)
    if target.exists() and not target.is_dir():
        raise ValueError(f"cannot write the folder {target}: a file of that name exists")
    tmp = temp_sibling(target, directory=True)
    try:
        yield tmp
        publish_folder(tmp, target, keep_others)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def atomic_save_tensors(tensors: dict, path: str | Path) -> None:
    """Write a dict of tensors as safetensors, atomically."""
    from safetensors.torch import save_file

    with atomic_path(path) as tmp:
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp))


def atomic_write_json(data, path: str | Path, **dumps_kwargs) -> None:
    """Write `data` as JSON (one trailing newline), atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, **dumps_kwargs) + "\n")


def load_plain_torch(path: str | Path):
    """`torch.load` a `.pt` / `.pth` file that must hold only tensors, numbers, strings and containers.

    Uses torch's restricted unpickler (`weights_only=True`): a file that holds any other Python object, such as
    one crafted to run code when unpickled, is refused with a ValueError naming the file; nothing of it runs.
    """
    import pickle

    import torch

    try:
        return torch.load(str(path), map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, AttributeError, TypeError) as exc:
        raise ValueError(
            f"{path} is not a plain tensor file: it holds Python objects beyond tensors and containers, which "
            f"sanavideo never unpickles (a pickle can run code); expected a state dict of tensors ({exc})"
        ) from None
    except RuntimeError as exc:  # truncated or not a torch file at all
        raise ValueError(f"{path} could not be read as a torch tensor file ({exc})") from None


def read_text(path: str | Path) -> str:
    """A text file's contents; a file that is not UTF-8 is a ValueError that names it and where it breaks."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"{path} is not UTF-8 text ({err.reason} at byte {err.start})") from None


def read_json(path: str | Path):
    """Parse a JSON file; a malformed or non-UTF-8 file is a ValueError that names it and where it breaks."""
    try:
        return json.loads(read_text(path))
    except json.JSONDecodeError as err:
        raise ValueError(
            f"{path} is not valid JSON: {err.msg} (line {err.lineno}, column {err.colno})"
        ) from None


def read_yaml(path: str | Path):
    """Parse a YAML file (safe loader); a malformed or non-UTF-8 file is a ValueError that names it."""
    import yaml

    try:
        return yaml.safe_load(read_text(path))
    except yaml.YAMLError as err:
        raise ValueError(f"{path} is not valid YAML: {err}".replace("<unicode string>", str(path))) from None


def load_safetensors(path: str | Path) -> dict:
    """Read a safetensors file into CPU tensors; a truncated or foreign file is a ValueError naming it."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except (SafetensorError, OSError) as err:
        if isinstance(err, FileNotFoundError):
            raise
        raise ValueError(
            f"{path} is not a readable safetensors file (truncated or corrupt?): {err}"
        ) from None
