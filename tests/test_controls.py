"""Live controls: what each key does to the state, the window title, snapshots' names. Pure, no window
(tests/test_window.py presses the same keys in a real window)."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from privacy_filter.app.build import available_effects
from privacy_filter.app.controls import KEY_HELP, Controls
from privacy_filter.app.session import check_snapshot_dir, snapshot_path
from privacy_filter.errors import UserError
from privacy_filter.render.effects import DEFAULT_KERNEL, EFFECT_NAMES, KERNEL_FLOOR, MAX_KERNEL


def press(controls: Controls, *keys: str | int) -> list[bool]:
    return [controls.handle_key(ord(key) if isinstance(key, str) else key) for key in keys]


def test_p_toggles_privacy_and_nothing_else() -> None:
    controls = Controls()
    assert press(controls, "p") == [False]
    assert not controls.privacy and controls.effect == "blur" and controls.kernel == DEFAULT_KERNEL
    assert not controls.quit
    press(controls, "p")
    assert controls.privacy


@pytest.mark.parametrize("key", ["q", "Q", 27])
def test_q_and_escape_quit(key) -> None:
    controls = Controls()
    press(controls, key)
    assert controls.quit


def test_b_cycles_through_the_effects_and_back() -> None:
    controls = Controls()
    seen = [controls.effect]
    for _ in EFFECT_NAMES:
        assert press(controls, "b") == [True]
        seen.append(controls.effect)
    assert seen[:-1] == list(EFFECT_NAMES) and seen[-1] == "blur"


def test_b_skips_the_picture_when_there_is_none() -> None:
    controls = Controls(effects=available_effects(None))
    seen = {controls.effect}
    for _ in range(10):
        press(controls, "b")
        seen.add(controls.effect)
    assert seen == set(EFFECT_NAMES) - {"image"}
    assert available_effects(object()) == EFFECT_NAMES  # with a --background picture: all of them


def test_plus_minus_change_the_kernel_within_bounds_and_keep_it_odd() -> None:
    controls = Controls(kernel=41)
    assert press(controls, "+") == [True]
    assert controls.kernel == 51
    press(controls, "=")  # + without shift on most keyboards
    assert controls.kernel == 61
    press(controls, *["-"] * 20)
    assert controls.kernel == KERNEL_FLOOR, "- stops at the privacy floor"
    press(controls, *["+"] * 100)
    assert controls.kernel == MAX_KERNEL
    for kernel in range(1, MAX_KERNEL + 1, 2):
        controls = Controls(kernel=kernel)
        press(controls, "+", "-", "-", "_")
        assert controls.kernel % 2 == 1 and KERNEL_FLOOR <= controls.kernel <= MAX_KERNEL


def test_minus_never_goes_under_the_floor_and_the_title_never_shows_it() -> None:
    """The seed's window let '-' reach kernel 1 ('privacy ON, blur 1' while the room went out raw)."""
    for start in (41, 31, 25, 21):
        controls = Controls(kernel=start)
        for _ in range(10):
            press(controls, "-")
            assert controls.kernel >= KERNEL_FLOOR
        assert controls.title(None).endswith(f"blur {KERNEL_FLOOR}")


@pytest.mark.parametrize(("key", "flag"), [("m", "show_matte"), ("f", "show_fps"), ("h", "show_help"),
                                           (" ", "paused")])
def test_view_keys_toggle_their_flag(key, flag) -> None:
    controls = Controls()
    assert press(controls, key) == [False]
    assert getattr(controls, flag) is True
    press(controls, key)
    assert getattr(controls, flag) is False


def test_s_asks_for_one_snapshot() -> None:
    controls = Controls()
    press(controls, "s")
    assert controls.snapshot


def test_other_keys_change_nothing() -> None:
    controls = Controls()
    before = repr(controls)
    assert press(controls, "x", "1", 0, 255, 1000, -5) == [False] * 6
    assert repr(controls) == before


def test_u_asks_to_repick_the_user() -> None:
    controls = Controls()
    assert press(controls, "u") == [False]  # not an effect change
    assert controls.repick  # the app re-picks the user on the next frame and clears the flag


def test_every_key_is_in_the_help() -> None:
    described = " ".join(key for key, _ in KEY_HELP)
    for key in ("p", "u", "b", "+", "-", "m", "f", "s", "h", "q", "Esc", "space"):
        assert key in described


def test_title_says_the_state() -> None:
    controls = Controls(kernel=41)
    assert controls.title(57.6) == "Privacy filter \u2014 privacy ON, blur 41, 58 FPS"
    assert controls.title(None) == "Privacy filter \u2014 privacy ON, blur 41"
    press(controls, "p", "b", "m", " ")
    assert controls.title(30) == "Privacy filter \u2014 privacy OFF, pixelate 41, showing the matte, paused, 30 FPS"
    press(controls, "b")
    assert controls.title(0) == "Privacy filter \u2014 privacy OFF, color, showing the matte, paused"  # no kernel


def test_snapshot_names_are_new_files(tmp_path) -> None:
    first = snapshot_path(tmp_path, now=1_700_000_000.123)
    assert first.parent == tmp_path and first.suffix == ".png" and first.name.startswith("privacy-filter-")
    assert first.name.endswith("-123.png")
    first.write_bytes(b"taken")
    second = snapshot_path(tmp_path, now=1_700_000_000.123)  # the same millisecond: still a new name
    assert second != first and not second.exists()


def test_snapshot_dir_must_be_a_writable_folder(tmp_path) -> None:
    assert check_snapshot_dir(str(tmp_path)) == tmp_path
    with pytest.raises(UserError, match="not a folder"):
        check_snapshot_dir(str(tmp_path / "missing"))
    (tmp_path / "file").write_text("")
    with pytest.raises(UserError, match="not a folder"):
        check_snapshot_dir(str(tmp_path / "file"))


def test_controls_start_from_the_flags() -> None:
    from privacy_filter.app.cli import parse_args

    args: argparse.Namespace = parse_args(["--no-privacy", "--effect", "pixelate", "--kernel", "21"])
    controls = Controls(privacy=not args.no_privacy, effect=args.effect, kernel=args.kernel)
    assert controls.title(None) == "Privacy filter \u2014 privacy OFF, pixelate 21"


def test_overlay_lines_wider_than_the_picture_are_wrapped_not_cut() -> None:
    import cv2

    from privacy_filter.app.overlay import FONT, SCALE, draw_lines, fit_lines

    model = ("selfie landscape 256x144 on LiteRT, 1 thread; faces full range 192x192 on LiteRT, 1 thread; "
             "bodies pose 224x224 + landmarks on LiteRT, 1 thread; MoveNet MultiPose 256x256 on LiteRT, 1 thread")
    fitted = fit_lines(["12.0 FPS", model], 640 - 16)
    assert fitted[0] == "12.0 FPS" and len(fitted) > 2
    assert all(cv2.getTextSize(line, FONT, SCALE, 1)[0][0] <= 640 - 16 for line in fitted)
    assert " ".join(part.strip() for part in fitted[1:]) == model, "every word is still there, in order"
    picture = draw_lines(np.zeros((480, 640, 3), np.uint8), ["12.0 FPS", model])
    assert picture[:, -4:].max() == 0, "nothing is drawn into the picture's right edge"
