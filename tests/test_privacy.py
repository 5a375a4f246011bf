"""Hidden means unrecognisable (issue 13), on real photos and clips from ../shared/eval.

Detail left in the hidden room at 640, 1280 and 1920 px wide against the seed's look, no halo around the
person, smoothing that never loses to the raw model on a DAVIS clip, no ghost after a scene cut. Each check
is run beside the old behaviour it replaces, which must fail it (so the check can fail).
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import EVAL, PORTRAITS

from benchmarks.privacy import WIDTHS, cut_ghost, davis_clips, detail_ratio, faces_found, halo, photos
from privacy_filter.render.effects import DEFAULT_KERNEL, KERNEL_FLOOR
from privacy_filter.segment.selfie import SelfieSegmenter

DAVIS = EVAL / "davis2016_person"
needs_photos = pytest.mark.skipif(not PORTRAITS.is_dir(), reason=f"portraits not found under {PORTRAITS}")
needs_davis = pytest.mark.skipif(not (DAVIS / "images").is_dir(), reason=f"DAVIS not found under {DAVIS}")
SETS = ("eg1800_portrait_test", "humanseg_vikramshenoy")
pytestmark = pytest.mark.required_in_ci  # its skips are for missing shared data, which CI has


@pytest.fixture(scope="module")
def pairs():
    return photos(SETS, 6)


@needs_photos
@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", ["blur", "pixelate", "desaturate"])
def test_detail_kept_at_every_frame_size(pairs, name, width) -> None:
    """<= 1.25x the seed's look at the default kernel, <= 2x at the floor (targets of issue 13), measured on
    the effect's output itself (pixelate's block edges included)."""
    for kernel, limit in ((DEFAULT_KERNEL, 1.25), (KERNEL_FLOOR, 2.0)):
        ratios = [r for f, m in pairs if (r := detail_ratio(f, m, name, kernel, width)) is not None]
        assert len(ratios) >= 4 and max(ratios) <= limit, f"{name} {kernel} at {width} px: {max(ratios):.2f}x"


@needs_photos
def test_the_detail_check_fails_hard_edged_blocks(pairs, monkeypatch) -> None:
    """The check above can fail pixelate: the same blocks with hard edges (the old pixelate) keep more than
    the target allows on every photo (3-18x)."""
    from privacy_filter.render import effects

    monkeypatch.setattr(effects, "BLOCK_SOFTEN", 0.0)
    ratios = [r for f, m in pairs if (r := detail_ratio(f, m, "pixelate", DEFAULT_KERNEL, 640)) is not None]
    assert min(ratios) > 1.25, f"hard blocks: {min(ratios):.2f}x on one photo"


@needs_photos
def test_the_detail_check_fails_the_old_fixed_pixel_kernel(pairs) -> None:
    """A 41-px Gaussian at 1920 px wide (the old meaning of --kernel 41) keeps well over 1.25x the seed's look."""
    frame, _ = pairs[0]
    big = cv2.resize(frame, (1920, round(frame.shape[0] * 1920 / frame.shape[1])), interpolation=cv2.INTER_CUBIC)
    small = cv2.resize(frame, (600, round(frame.shape[0] * 600 / frame.shape[1])), interpolation=cv2.INTER_AREA)
    back = cv2.resize(cv2.GaussianBlur(big, (41, 41), 0), small.shape[1::-1], interpolation=cv2.INTER_AREA)
    seed = cv2.GaussianBlur(small, (41, 41), 0)

    def lap(image):
        return cv2.Laplacian(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), cv2.CV_32F).var()

    assert lap(back) > 1.5 * lap(seed)


@needs_photos
@pytest.mark.parametrize("name", ["blur", "pixelate", "desaturate"])
def test_no_halo_around_real_portraits_on_a_grey_wall(name) -> None:
    portraits = photos(("eg1800_portrait_test",), 8)
    ours = [halo(f, m, name) for f, m in portraits]
    plain = [halo(f, m, name, weighted=False) for f, m in portraits]
    assert np.mean(ours) <= 1.0, f"{name}: halo {np.mean(ours):.2f} grey levels"
    assert np.mean(plain) > 2.0, "the plain effect spreads the person's colours: the check can fail"


@pytest.fixture(scope="module")
def segmenter():
    return SelfieSegmenter(1)


@needs_davis
def test_no_ghost_after_a_scene_cut(segmenter) -> None:
    clips = davis_clips()
    for first, second in (("lucia", "hike"), ("rollerblade", "breakdance"), ("dance-jump", "rollerblade")):
        ghost = cut_ghost(segmenter, clips[first][-8:], clips[second])
        assert max(ghost) < 1e-6, f"{first} -> {second}: the first clip's matte lingers ({ghost})"
        without = cut_ghost(segmenter, clips[first][-8:], clips[second], cut_level=0.0)
        assert without[0] > 1e-3, "without cut detection the old matte lingers: the check can fail"


@needs_davis
def test_no_false_cut_inside_a_clip(segmenter) -> None:
    from privacy_filter.render.matte import MatteRefiner

    for name, frames in davis_clips().items():
        refiner = MatteRefiner()
        for frame in frames:
            refiner.refine(segmenter.process(frame), frame)
        assert refiner.cuts == 0, f"{name}: {refiner.cuts} cuts found in one continuous clip"


@needs_davis
def test_smoothing_never_loses_to_the_raw_model_on_any_clip() -> None:
    """Per DAVIS clip: ours (smoothing on) >= raw in IoU and BF@1 %, and flicker <= 50 % of raw (issue 13).

    hike and lucia, whose camera follows the walker, are the tight ones (~49 %); with the previous matte
    defaults (a 170x96 grid at 854x480, sharpen 2, still_weight 0.2) they were at 61 % and 57 %, and the test
    fails there (``test_the_smoothing_check_fails_the_previous_defaults``).
    """
    from benchmarks.backends import SelfieBackend
    from benchmarks.evalsets import load_set
    from benchmarks.quality import clip_scores

    backend = SelfieBackend(1)
    davis = load_set(DAVIS)
    for clip in davis.clips:
        scores = clip_scores(backend, clip, "user", {})
        raw, ours = scores["raw"], scores["ours"]
        name = clip[0].name.split("/")[0]
        assert ours[0] >= raw[0] and ours[1] >= raw[1], f"{name}: ours {ours[:2]} below raw {raw[:2]}"
        assert ours[2] <= 0.5 * raw[2], f"{name}: flicker {ours[2]:.5f} vs raw {raw[2]:.5f}"


@needs_davis
def test_the_smoothing_check_fails_the_previous_defaults(monkeypatch) -> None:
    """The flicker check above can fail: the previous defaults flicker more than 50 % of raw on hike."""
    from benchmarks.backends import SelfieBackend
    from benchmarks.evalsets import load_set
    from benchmarks.quality import clip_scores
    from privacy_filter.render import matte

    monkeypatch.setattr(matte, "work_grid", lambda hw, size: (hw[1] // 5, hw[0] // 5))  # 170x96 at 854x480
    davis = load_set(DAVIS)
    hike = next(clip for clip in davis.clips if clip[0].name.startswith("hike"))
    scores = clip_scores(SelfieBackend(1), hike, "user", {"sharpen": 2.0, "still_weight": 0.2})
    assert scores["ours"][2] > 0.5 * scores["raw"][2]


# ---------------------------------------------------------------- faces: found in the input, not in the output

THREE_PEOPLE = EVAL / "videos" / "face-demographics-walking-and-pause.mp4"
needs_clip = pytest.mark.skipif(not THREE_PEOPLE.is_file(), reason=f"{THREE_PEOPLE} not found")


@pytest.fixture(scope="module")
def face_frames() -> list[np.ndarray]:
    """Every 10th frame of the three-person clip (real footage, 480x270, three faces ~75 px wide at 600 px)."""
    from benchmarks.only_you import clip_frames

    return clip_frames(THREE_PEOPLE)[::10]


@pytest.fixture(scope="module")
def detector():
    from privacy_filter.people.faces import FaceDetector

    return FaceDetector("full")


@needs_clip
@pytest.mark.parametrize("width", WIDTHS)
def test_hidden_faces_are_not_found_at_any_frame_size(detector, face_frames, width) -> None:
    """A hidden person (here: everyone, the whole frame hidden as for a person who is not the user) keeps no
    face the face detector can find, at 640, 1280 and 1920 px wide: pixelate at the default strength."""
    from privacy_filter.pipeline import hide_whole_frame
    from privacy_filter.render.effects import make_effect

    effect = make_effect("pixelate", kernel=DEFAULT_KERNEL)
    before, after = faces_found(detector, face_frames, width, lambda frame: hide_whole_frame(frame, effect))
    assert before >= 10, f"the detector should find the faces in the input ({before})"
    assert after == 0, f"{after} of {before} faces still found after pixelate at {width} px"


@needs_clip
def test_the_face_check_fails_blocks_fixed_in_pixels(detector, face_frames) -> None:
    """The old pixelate (blocks of kernel/2 px whatever the frame size) leaves faces to find at 1920 px."""

    def old_pixelate(frame: np.ndarray) -> np.ndarray:
        height, width = frame.shape[:2]
        small = cv2.resize(frame, (width // 20, height // 20), interpolation=cv2.INTER_AREA)
        return cv2.resize(small, (width, height), interpolation=cv2.INTER_NEAREST)

    before, after = faces_found(detector, face_frames, 1920, old_pixelate)
    assert after >= before // 2, f"old pixelate at 1920 px: {after} of {before} faces found"


@needs_clip
@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", ["blur", "desaturate"])
def test_blurred_faces_are_not_found(detector, face_frames, name, width) -> None:
    """The default blur (81 at 600 px) leaves no face the detector finds, at 640, 1280 and 1920 px wide."""
    from privacy_filter.pipeline import hide_whole_frame
    from privacy_filter.render.effects import make_effect

    effect = make_effect(name, kernel=DEFAULT_KERNEL)
    before, after = faces_found(detector, face_frames, width, lambda frame: hide_whole_frame(frame, effect))
    assert before >= 10, f"the detector should find the faces in the input ({before})"
    assert after == 0, f"{after} of {before} faces still found after {name} {DEFAULT_KERNEL} at {width} px"


@needs_clip
def test_the_face_check_fails_the_tutorials_blur(detector, face_frames) -> None:
    """The tutorial's blur 41 leaves face-shaped blobs the detector finds: the check above can fail."""
    from privacy_filter.pipeline import hide_whole_frame
    from privacy_filter.render.effects import make_effect

    effect = make_effect("blur", kernel=41)
    before, after = faces_found(detector, face_frames, 1280, lambda frame: hide_whole_frame(frame, effect))
    assert after >= before // 2, f"blur 41: {after} of {before} faces found"


# ---------------------------------------------------------------- hide fast, show slowly


@needs_clip
def test_people_the_selection_drops_are_hidden_on_that_frame(segmenter, detector) -> None:
    """The three-person clip starts as one fused region (all three kept); when the people stage first splits
    it, the two the selection drops are hidden on that very frame, through the real pipeline. The plain
    (symmetric) smoothing, same people and same selection, still shows them there: the check can fail."""
    from benchmarks.only_you import clip_frames
    from benchmarks.only_you_methods import Method
    from privacy_filter.people.faces import FaceDetector
    from privacy_filter.people.stage import EDGE_SCORE, FacePeople
    from privacy_filter.pipeline import FrameProcessor, SelfiePeople
    from privacy_filter.render.effects import make_effect

    class Recording:
        def __init__(self) -> None:
            self.stage = FacePeople(SelfiePeople(segmenter), FaceDetector(min_score=EDGE_SCORE))
            self.people = 0

        def find(self, frame):
            self.last = self.stage.find(frame)
            self.people = len(self.last[0])
            return self.last

    finder = Recording()
    processor = FrameProcessor(finder, make_effect("blur"))
    symmetric = Method("symmetric", lambda frame: finder.last, "user", {}, hide_fast=False)
    split_seen = 0
    for index, frame in enumerate(clip_frames(THREE_PEOPLE)[:15]):
        alpha = processor.process(frame).alpha
        fused = finder.people < 3
        plain = symmetric.alpha(frame)  # the same people (the stage ran once on this frame), same kind of selector
        faces = detector.detect(frame)
        if fused or len(faces) != 3:
            continue
        kept = [alpha[int(f.centre[1]), int(f.centre[0])] > 0.5 for f in faces]
        assert sum(kept) == 1, f"frame {index}: {sum(kept)} of 3 faces shown after the split"
        if split_seen == 0:
            shown = sum(plain[int(f.centre[1]), int(f.centre[0])] > 0.5 for f in faces)
            assert shown > 1, "the symmetric smoothing should still show the dropped people on the split frame"
        split_seen += 1
    assert split_seen >= 5


# ---------------------------------------------------------------- scene cuts reset every stage


VIDEOS = EVAL / "videos"
CUT_PAIRS = (("face-demographics-walking-and-pause.mp4", "head-pose-face-detection-female-and-male.mp4"),
             ("head-pose-face-detection-female-and-male.mp4", "face-demographics-walking-and-pause.mp4"))


def _frames(path, count: int, size=None) -> list[np.ndarray]:
    from benchmarks.only_you import clip_frames

    frames = clip_frames(path)
    frames = frames[-count:] if size is not None else frames[:count]
    return [cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames] if size is not None else frames


@pytest.mark.skipif(not VIDEOS.is_dir(), reason=f"{VIDEOS} not found")
@pytest.mark.parametrize(("first", "second"), CUT_PAIRS, ids=("three-to-two", "two-to-three"))
def test_nothing_of_the_first_clip_survives_a_cut(segmenter, first, second) -> None:
    """Two real clips back to back through the whole pipeline (people stage, user selection, matte): from
    the cut on, the matte is the one a processor started at the cut gives (no ghost of the old user, no
    stale face). With only the matte reset at the cut (the round-one behaviour) it is not: the check can fail."""
    from privacy_filter.people.faces import FaceDetector
    from privacy_filter.people.stage import EDGE_SCORE, FacePeople
    from privacy_filter.pipeline import FrameProcessor, SelfiePeople
    from privacy_filter.render.effects import make_effect

    def processor(matte_only: bool = False) -> FrameProcessor:
        made = FrameProcessor(FacePeople(SelfiePeople(segmenter), FaceDetector(min_score=EDGE_SCORE)),
                              make_effect("blur"))
        if matte_only:
            made._scene_cut = lambda frame, people, grid: (made.refiner.reset(), (people, grid))[1]
        return made

    after = _frames(VIDEOS / second, 20)
    before = _frames(VIDEOS / first, 20, (after[0].shape[1], after[0].shape[0]))
    worst = {}
    for matte_only in (False, True):
        through, fresh = processor(matte_only), processor()
        for frame in before:
            through.process(frame)
        worst[matte_only] = max(float(np.abs(through.process(f).alpha - fresh.process(f).alpha).mean())
                                for f in after)
        assert through.refiner.cuts == 1
    assert worst[False] < 1e-6, f"{first} -> {second}: the first clip lingers ({worst[False]:.4f})"
    assert worst[True] > 0.05, "with only the matte reset the old state should show: the check can fail"


@pytest.mark.skipif(not VIDEOS.is_dir(), reason=f"{VIDEOS} not found")
def test_latest_mask_drops_its_mask_at_a_reset(segmenter) -> None:
    """``LatestMask`` (Mask R-CNN's worker) after a reset: no mask until the model ran on a newer frame."""
    from benchmarks.only_you import clip_frames
    from privacy_filter.concurrent.latest import LatestMask, MaskUnavailable
    from privacy_filter.pipeline import SelfiePeople

    frames = clip_frames(VIDEOS / CUT_PAIRS[0][0])[:2]
    latest = LatestMask(SelfiePeople(segmenter))
    try:
        with pytest.raises(MaskUnavailable):
            latest.find(frames[0])  # queued for the model
        assert latest.wait_first(30)
        latest.find(frames[0])  # a mask is there
        latest.reset()
        with pytest.raises(MaskUnavailable):
            latest.find(frames[1])  # the old scene's mask is gone; this frame is queued for the model
        assert latest.wait_first(30)
        people, grid = latest.find(frames[1])
        assert people and grid == (144, 256)
    finally:
        latest.close()
