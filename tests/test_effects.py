"""Background effects: unit tests on synthetic frames, then each effect through the real CLI on real footage.

The CLI checks compare the output with the input where the program's own matte (--mask-output) says
"background" and "person", and check the background became what the effect promises.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import EVAL, PORTRAITS, needs_eval, run_cli

from privacy_filter.errors import UserError
from privacy_filter.render.effects import (
    EFFECT_NAMES,
    KERNEL_FLOOR,
    _ConstantBackground,
    cover,
    desaturate,
    load_background,
    make_effect,
    parse_color,
    pixelate,
)

GREEN = "#00b140"


def checkerboard(height: int = 240, width: int = 320, square: int = 4) -> np.ndarray:
    """HxWx3 uint8: fine black/white squares with a colour tint (lots of detail for blur to remove)."""
    ys, xs = np.mgrid[0:height, 0:width]
    board = (((ys // square) + (xs // square)) % 2 * 255).astype(np.uint8)
    frame = np.dstack([board, board // 2, 255 - board])
    return np.ascontiguousarray(frame)


def detail(frame: np.ndarray, where: np.ndarray | None = None) -> float:
    """Variance of the Laplacian (over a region): high for fine detail, low for a smooth picture."""
    laplacian = cv2.Laplacian(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), cv2.CV_32F)
    return float(laplacian.var() if where is None else laplacian[where].var())


def grey_spread(frame: np.ndarray) -> float:
    """Mean spread between colour channels: 0 for a grey picture."""
    channels = frame.astype(np.int16)
    return float((channels.max(axis=2) - channels.min(axis=2)).mean())


# --- every effect: the same contract -----------------------------------------------------------------------


@pytest.mark.parametrize("name", EFFECT_NAMES)
@pytest.mark.parametrize("size", [(320, 240), (641, 479), (37, 23)])
def test_every_effect_returns_a_frame_of_the_same_size(name, size) -> None:
    frame = checkerboard(size[1], size[0])
    effect = make_effect(name, kernel=41, color=GREEN, background=checkerboard(100, 50))
    out = effect(frame)
    assert out.shape == frame.shape and out.dtype == np.uint8
    assert not np.array_equal(out, frame), f"{name} left the frame as it was"
    assert np.array_equal(frame, checkerboard(size[1], size[0])), f"{name} changed its input in place"


def test_unknown_effect_and_image_without_picture_are_user_errors() -> None:
    with pytest.raises(UserError, match="unknown effect"):
        make_effect("sepia")
    with pytest.raises(UserError, match="--background"):
        make_effect("image")


# --- blur, pixelate, desaturate ----------------------------------------------------------------------------


def test_blur_removes_detail_and_a_bigger_kernel_removes_more() -> None:
    frame = checkerboard()
    weak, strong = make_effect("blur", kernel=11)(frame), make_effect("blur", kernel=81)(frame)
    assert detail(strong) < detail(weak) < 0.2 * detail(frame)


@pytest.mark.parametrize(("width", "block"), [(600, 20), (320, 11), (1200, 41)])
def test_pixelate_blocks_are_half_the_kernel_at_600_px_and_scale_with_the_frame(width, block) -> None:
    """A grey ramp becomes a staircase of blocks (soft-edged): its steps repeat every block, the strongest
    frequency of the profile's slope."""
    ramp = np.dstack([np.tile(np.linspace(0, 255, width, dtype=np.uint8), (240, 1))] * 3)
    slope = np.diff(pixelate(ramp, kernel=41)[120, :, 0].astype(float))
    spectrum = np.abs(np.fft.rfft(slope - slope.mean()))
    period = len(slope) / (1 + np.argmax(spectrum[1:]))
    assert abs(period - block) <= 1, f"blocks of {period:.1f} px, expected ~{block}"


def test_pixelate_edges_are_soft_but_the_blocks_stay_flat() -> None:
    """Inside a block the output is flat; across a block edge it ramps over a few pixels (BLOCK_SOFTEN)."""
    frame = np.zeros((240, 600, 3), np.uint8)
    frame[:, 300:] = 200  # one edge, on a block boundary (blocks of 20 px at 600 px wide)
    row = pixelate(frame, kernel=41)[120, :, 0].astype(int)
    assert row[280] < 5 and row[320] > 195, "the blocks away from the edge keep their colour"
    ramp = np.count_nonzero((row > 10) & (row < 190))
    assert 4 <= ramp <= 20, f"edge ramp of {ramp} px"


def shifted_textures(width: int) -> np.ndarray:
    """A seeded random texture at 600 px wide, enlarged to ``width``: the same picture at another size."""
    rng = np.random.default_rng(7)
    base = rng.integers(0, 256, (450, 600, 3), np.uint8)
    base = cv2.GaussianBlur(base, (0, 0), 1.0)
    return cv2.resize(base, (width, width * 3 // 4), interpolation=cv2.INTER_CUBIC)


@pytest.mark.parametrize("name", ["blur", "pixelate", "desaturate"])
def test_the_same_kernel_hides_the_same_at_every_frame_size(name) -> None:
    """--kernel K means K at 600 px wide: brought back to 600 px, the detail left is about the same."""
    kept = []
    for width in (600, 1920):
        out = make_effect(name, kernel=41)(shifted_textures(width))
        kept.append(detail(cv2.resize(out, (600, 450), interpolation=cv2.INTER_AREA)))
    assert kept[1] < 1.5 * kept[0], f"{name}: 1920 px keeps {kept[1] / kept[0]:.2f}x the detail of 600 px"


def test_the_seed_kernel_in_pixels_would_fail_that_test() -> None:
    """The check above can fail: a 41-px Gaussian at 1920 px (the old meaning) keeps far more detail."""
    small = detail(cv2.GaussianBlur(shifted_textures(600), (41, 41), 0))
    big = cv2.GaussianBlur(shifted_textures(1920), (41, 41), 0)
    assert detail(cv2.resize(big, (600, 450), interpolation=cv2.INTER_AREA)) > 1.5 * small


@pytest.mark.parametrize("name", ["blur", "pixelate", "desaturate"])
@pytest.mark.parametrize("kernel", [1, 3, 11, 19])
def test_no_kernel_goes_under_the_privacy_floor(name, kernel) -> None:
    """Whatever --kernel asks, the hidden region keeps at most 2x the detail of the seed's look (a 41-px
    Gaussian at 600 px wide): the floor's promise, measured rather than its constant pinned (at 600 px the floor
    keeps 1.2-1.6x; a floor of 11 would keep 3.3x)."""
    frame = shifted_textures(600)
    seed = detail(cv2.GaussianBlur(frame, (41, 41), 0))
    hidden = make_effect(name, kernel=kernel)(frame)
    assert detail(hidden) <= 2.0 * seed, f"{name} at --kernel {kernel}: {detail(hidden) / seed:.2f}x the seed's detail"
    assert np.array_equal(hidden, make_effect(name, kernel=KERNEL_FLOOR)(frame)), "raised to the floor itself"


def test_desaturate_blurs_as_much_as_blur() -> None:
    frame = shifted_textures(640)
    grey = cv2.cvtColor(make_effect("blur", kernel=41)(frame), cv2.COLOR_BGR2GRAY)
    assert detail(make_effect("desaturate", kernel=41)(frame)) <= 1.1 * detail(cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR))


def person_on_a_wall(width: int = 640) -> tuple[np.ndarray, np.ndarray]:
    """A dark red disc (the 'person') on a flat grey wall; its matte (HxW float32, soft 2-px edge)."""
    height = width * 3 // 4
    frame = np.full((height, width, 3), 128, np.uint8)
    mask = np.zeros((height, width), np.uint8)
    cv2.circle(mask, (width // 2, height // 2), height // 4, 255, -1)
    frame[mask > 0] = (0, 10, 90)
    alpha = cv2.GaussianBlur(mask.astype(np.float32) / 255, (5, 5), 0)
    return frame, alpha


@pytest.mark.parametrize("name", ["blur", "pixelate", "desaturate"])
@pytest.mark.parametrize("width", [640, 1920])
def test_no_halo_the_person_does_not_spread_into_the_wall(name, width) -> None:
    frame, alpha = person_on_a_wall(width)
    ring = (cv2.dilate((alpha > 0.5).astype(np.uint8), np.ones((49, 49), np.uint8)) > 0) & ~(
        cv2.dilate((alpha > 0.5).astype(np.uint8), np.ones((9, 9), np.uint8)) > 0)
    effect = make_effect(name, kernel=41)
    wall = 128.0
    ours = np.abs(effect(frame, alpha)[ring].astype(float) - wall).mean()
    plain = np.abs(effect(frame)[ring].astype(float) - wall).mean()
    assert ours <= 1.0, f"{name}: halo of {ours:.2f} grey levels in the ring"
    assert plain > 3.0, f"{name}: the check could not fail (plain effect only {plain:.2f} off)"


def test_a_broken_matte_hides_no_less() -> None:
    frame, alpha = person_on_a_wall()
    alpha[:50] = np.nan
    out = make_effect("blur", kernel=41)(frame, alpha)
    assert out.shape == frame.shape and out.dtype == np.uint8


def test_desaturate_is_grey_and_keeps_brightness() -> None:
    frame = checkerboard(square=40)
    out = desaturate(frame, kernel=41)
    assert grey_spread(out) == 0
    expected = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY).mean()
    assert abs(out[:, :, 0].mean() - expected) < 3


# --- colour ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "bgr"), [("#00b140", (0x40, 0xB1, 0x00)), ("FF0000", (0, 0, 255)),
                                            (" #0000ff ", (255, 0, 0)), ("#aBcDeF", (0xEF, 0xCD, 0xAB))])
def test_parse_color(text, bgr) -> None:
    assert parse_color(text) == bgr


@pytest.mark.parametrize("text", ["red", "#12345", "#1234567", "#GG0000", "", "#"])
def test_parse_color_refuses_what_is_not_rrggbb(text) -> None:
    with pytest.raises(UserError, match="#RRGGBB"):
        parse_color(text)


def test_color_effect_fills_with_the_colour() -> None:
    out = make_effect("color", color="#102030")(checkerboard())
    assert (out == np.array([0x30, 0x20, 0x10], np.uint8)).all()


# --- image -------------------------------------------------------------------------------------------------


def halves(height: int, width: int) -> np.ndarray:
    """Left half red, right half blue, with a white 2-pixel border to see what a crop cut."""
    picture = np.zeros((height, width, 3), np.uint8)
    picture[:, : width // 2] = (0, 0, 255)
    picture[:, width // 2 :] = (255, 0, 0)
    return picture


@pytest.mark.parametrize(("picture_size", "frame_size"), [((400, 100), (100, 100)), ((100, 400), (300, 200)),
                                                          ((64, 48), (640, 480)), ((1000, 10), (320, 240))])
def test_cover_fills_the_frame_without_distortion(picture_size, frame_size) -> None:
    picture = halves(picture_size[1], picture_size[0])
    out = cover(picture, frame_size)
    assert out.shape == (frame_size[1], frame_size[0], 3) and out.flags["C_CONTIGUOUS"]
    # Centre-cropped: the red/blue edge stays in the middle, so both halves show equally.
    red = (out[:, :, 2] > 128).mean()
    assert abs(red - 0.5) < 0.05, f"red covers {red:.0%}: not centred"


def test_cover_keeps_a_circle_round() -> None:
    picture = np.zeros((200, 400, 3), np.uint8)
    cv2.circle(picture, (200, 100), 60, (255, 255, 255), -1)
    out = cover(picture, (300, 300))  # the picture is scaled by 1.5 and cropped sideways
    ys, xs = np.nonzero(out[:, :, 0] > 128)
    assert abs((ys.max() - ys.min()) - (xs.max() - xs.min())) <= 2


def test_constant_background_is_made_once_per_size() -> None:
    calls = []

    def make(size):
        calls.append(size)
        return np.zeros((size[1], size[0], 3), np.uint8)

    effect = _ConstantBackground(make)
    effect(checkerboard(240, 320))
    effect(checkerboard(240, 320))
    effect(checkerboard(100, 200))
    assert calls == [(320, 240), (200, 100)]


def test_load_background_errors_say_what_is_wrong(tmp_path) -> None:
    with pytest.raises(UserError, match="file not found"):
        load_background(tmp_path / "missing.png")
    with pytest.raises(UserError, match="is a folder"):
        load_background(tmp_path)
    (tmp_path / "text.png").write_text("not a picture")
    with pytest.raises(UserError, match="cannot decode"):
        load_background(tmp_path / "text.png")
    grey = np.full((30, 40), 77, np.uint8)
    cv2.imwrite(str(tmp_path / "grey.png"), grey)
    assert load_background(tmp_path / "grey.png").shape == (30, 40, 3)


# --- the CLI: bad values stop before any work ----------------------------------------------------------------


@needs_eval
@pytest.mark.parametrize(("flags", "code", "says"), [
    (["--effect", "image", "--background", "missing.png"], 1, "file not found"),
    (["--effect", "image", "--background", "NOT_A_PICTURE"], 1, "cannot decode"),
    (["--effect", "color", "--color", "green"], 2, "#RRGGBB"),
    (["--effect", "image"], 2, "--background"),
    (["--effect", "sepia"], 2, "invalid choice"),
])
def test_bad_effect_flags_give_one_line_and_write_nothing(tmp_path, flags, code, says) -> None:
    (tmp_path / "text.png").write_text("not a picture")
    flags = [str(tmp_path / "text.png") if flag == "NOT_A_PICTURE" else flag for flag in flags]
    out = tmp_path / "out.mp4"
    result = run_cli("--input", str(EVAL / "videos" / "asl_webcam_concat.mp4"), "--output", str(out),
                     "--no-display", *flags)
    assert result.returncode == code, result.stderr
    assert says in result.stderr
    if code == 1:
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not out.exists() and list(tmp_path.iterdir()) == [tmp_path / "text.png"]


# --- the CLI on real footage: each effect does what it says where the background is --------------------------


def split(mask: np.ndarray, least: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """(person, background) from the program's matte, 6 px away from the edge between them; the person must
    cover at least ``least`` of the picture."""
    kernel = np.ones((13, 13), np.uint8)
    person = cv2.erode((mask > 245).astype(np.uint8), kernel).astype(bool)
    background = cv2.erode((mask < 10).astype(np.uint8), kernel).astype(bool)
    assert person.mean() > least and background.mean() > 0.1, (person.mean(), background.mean())
    return person, background


def backdrop() -> np.ndarray:
    picture = np.zeros((300, 500, 3), np.uint8)
    picture[:, :, 1] = np.linspace(0, 255, 500, dtype=np.uint8)
    picture[:, :, 2] = 180
    return picture


def expect_effect(name: str, output: np.ndarray, frame: np.ndarray, background: np.ndarray, lossy: bool) -> None:
    """Check the background region of output became what effect ``name`` promises."""
    slack = 6 if lossy else 1
    out, inp = output.astype(np.int16), frame.astype(np.int16)
    if name == "blur":
        assert detail(output, background) < 0.5 * detail(frame, background)
    elif name == "pixelate":
        assert np.abs(out - inp)[background].mean() > 2
        steps = np.abs(np.diff(out, axis=1)).max(axis=2)[background[:, 1:]]
        assert np.mean(steps > slack) < 0.25, "pixelated: most neighbours are equal (inside blocks)"
        assert np.mean(np.abs(np.diff(inp, axis=1)).max(axis=2)[background[:, 1:]] > slack) > 0.25, "the input was not"
    elif name == "color":
        assert np.abs(out[background] - np.array(parse_color(GREEN))).mean() < slack
    elif name == "image":
        expected = cover(backdrop(), (frame.shape[1], frame.shape[0])).astype(np.int16)
        assert np.abs(out - expected)[background].mean() < slack
    elif name == "desaturate":
        assert grey_spread(output[background][None]) < slack
        assert grey_spread(frame[background][None]) > slack + 5, "the input background had colour"


@needs_eval
@pytest.mark.parametrize("name", EFFECT_NAMES)
def test_each_effect_on_a_real_portrait(tmp_path, name) -> None:
    source = sorted((PORTRAITS / "images").glob("*.jpg"))[3]
    cv2.imwrite(str(tmp_path / "backdrop.png"), backdrop())
    out, mask = tmp_path / "out.png", tmp_path / "mask.png"
    result = run_cli("--input", str(source), "--output", str(out), "--mask-output", str(mask), "--no-display",
                     "--effect", name, "--color", GREEN, "--background", str(tmp_path / "backdrop.png"))
    assert result.returncode == 0, result.stderr
    frame, output = cv2.imread(str(source)), cv2.imread(str(out))
    assert output.shape == frame.shape, "an image keeps its size"
    person, background = split(cv2.imread(str(mask), cv2.IMREAD_GRAYSCALE))
    assert np.abs(output.astype(np.int16) - frame)[person].mean() < 1.5, "the person is left as they are"
    expect_effect(name, output, frame, background, lossy=False)


@needs_eval
@pytest.mark.parametrize("name", EFFECT_NAMES)
def test_each_effect_on_a_real_clip(tmp_path, name) -> None:
    clip = EVAL / "davis2016_person" / "videos" / "lucia.mp4"
    if not clip.is_file():
        pytest.skip(f"{clip} not found")
    cv2.imwrite(str(tmp_path / "backdrop.png"), backdrop())
    out, mask = tmp_path / "out.avi", tmp_path / "mask.avi"
    result = run_cli("--input", str(clip), "--output", str(out), "--mask-output", str(mask), "--no-display",
                     "--effect", name, "--background", str(tmp_path / "backdrop.png"))
    assert result.returncode == 0, result.stderr
    source, written, matte = (cv2.VideoCapture(str(path)) for path in (clip, out, mask))
    assert written.get(cv2.CAP_PROP_FPS) == pytest.approx(source.get(cv2.CAP_PROP_FPS), abs=0.01)
    checked = 0
    for index in range(70):
        ok_in, frame = source.read()
        ok_out, output = written.read()
        ok_mask, alpha = matte.read()
        if not (ok_in and ok_out and ok_mask):
            break
        assert output.shape == frame.shape, "a file keeps the input's size"
        if index % 15 == 5:
            person, background = split(alpha[:, :, 0], least=0.01)  # lucia walks, small in the frame
            # MJPG is lossy: compare against the input through the same mean, loosely.
            assert np.abs(output.astype(np.int16) - frame)[person].mean() < 6, "the person is left as they are"
            expect_effect(name, output, frame, background, lossy=True)
            checked += 1
    assert checked >= 3
