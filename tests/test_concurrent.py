"""Segmentation on worker threads (``privacy_filter.concurrent``): same results, clean shutdown, fail closed.

Real frames from the standard speed clip and the real selfie model; the slow model of the asynchronous path
is either the real Mask R-CNN graph with stand-in random weights, or a wrapper around the real selfie finder
that the test holds back or makes fail. No timing is asserted anywhere (speed lives in benchmarks/run.py).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import cv2
import mask_rcnn_standin as standin
import numpy as np
import pytest
from faultkit import read_video

from privacy_filter.concurrent.latest import LatestMask, MaskUnavailable, follow_people
from privacy_filter.concurrent.lookahead import Lookahead
from privacy_filter.concurrent.overlap import overlap
from privacy_filter.errors import ModelError
from privacy_filter.io.sources import ImageSource, open_source
from privacy_filter.person import Person
from privacy_filter.pipeline import FrameProcessor, InstancePeople, SelfiePeople, hide_whole_frame
from privacy_filter.render.effects import Effect, make_effect
from privacy_filter.segment.selfie import SelfieSegmenter

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("PRIVACY_FILTER_SHARED", REPO.parent / "shared"))
CLIP = SHARED / "eval" / "videos" / "asl_webcam_concat.mp4"
FRAMES = 40  # enough for the selector and the matte's smoothing to carry state across frames

needs_clip = pytest.mark.skipif(not CLIP.is_file(), reason=f"speed clip not found at {CLIP}")
pytestmark = [needs_clip, pytest.mark.required_in_ci]


@pytest.fixture(scope="module")
def segmenter() -> SelfieSegmenter:
    return SelfieSegmenter()


@pytest.fixture(scope="module")
def short_clip(tmp_path_factory) -> Path:
    """The first FRAMES frames of the speed clip as a video file (lossless enough: both runs decode it)."""
    path = tmp_path_factory.mktemp("clip") / "short.avi"
    capture = cv2.VideoCapture(str(CLIP))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (640, 480))
    for _ in range(FRAMES):
        ok, frame = capture.read()
        assert ok
        writer.write(frame)
    writer.release()
    capture.release()
    return path


@pytest.fixture(scope="module")
def frames(short_clip) -> list[np.ndarray]:
    return read_video(short_clip)


def processor_for(finder, want_alpha: bool = True) -> FrameProcessor:
    return FrameProcessor(finder=finder, effect=make_effect("blur", 41), want_alpha=want_alpha)


def drain(source, processor: FrameProcessor) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, bool]]:
    """(input frame, output, alpha copy, failed) for every frame of a started source."""
    results = []
    while True:
        frame = source.read(timeout=5.0)
        if frame is None:
            if source.finished:
                return results
            continue
        result = processor.process(frame)
        results.append((frame, result.output, result.alpha.copy(), result.failed))



def drain_overlapped(clip, processor: FrameProcessor) -> list:
    """``drain`` the clip through the app's overlapped path (reader + Lookahead worker), then close both."""
    piped = overlap(open_source(str(clip), width=0).start(), processor, realtime=False)
    try:
        return drain(piped, processor)
    finally:
        piped.stop()
        processor.close()

def worker_threads() -> list[threading.Thread]:
    """Our workers and the sources' reader threads still running."""
    names = ("segmentation", "mask-worker")
    return [t for t in threading.enumerate() if t.name in names or t.name.startswith("reader:")]


def threads_end(timeout: float = 120.0) -> bool:
    """True once every worker has ended; a model run in progress finishes first (seconds on a busy box)."""
    for thread in worker_threads():
        thread.join(timeout)
    return not worker_threads()


# ------------------------------------------------------------------------------------------ Lookahead


def test_lookahead_gives_the_synchronous_outputs_in_order(short_clip, segmenter) -> None:
    sync_processor = processor_for(SelfiePeople(segmenter))
    source = open_source(str(short_clip), width=0).start()
    try:
        expected = drain(source, sync_processor)
    finally:
        source.stop()

    processor = processor_for(SelfiePeople(segmenter))
    piped = overlap(open_source(str(short_clip), width=0).start(), processor, realtime=False)
    assert isinstance(piped, Lookahead) and processor.finder is piped
    try:
        got = drain(piped, processor)
    finally:
        piped.stop()
        processor.close()

    assert len(expected) == FRAMES and len(got) == FRAMES  # none dropped
    for index, (want, have) in enumerate(zip(expected, got, strict=True)):
        np.testing.assert_array_equal(have[0], want[0], err_msg=f"frame {index} out of order")
        np.testing.assert_array_equal(have[1], want[1], err_msg=f"output {index} differs")
        np.testing.assert_array_equal(have[2], want[2], err_msg=f"alpha {index} differs")
        assert not have[3]
    # The filter did something: the person is kept, much of the frame is not.
    alpha = got[-1][2]
    assert 0.05 < float((alpha > 0.5).mean()) < 0.9
    assert not worker_threads()


def test_lookahead_reports_the_model_time_of_each_frame(short_clip, segmenter) -> None:
    processor = processor_for(SelfiePeople(segmenter))
    piped = overlap(open_source(str(short_clip), width=0).start(), processor, realtime=False)
    try:
        frame = piped.read(timeout=5.0)
        processor.process(frame)
    finally:
        piped.stop()
        processor.close()
    assert processor.stage_ms["segment"] > 0.0  # the worker's model time, not the lookup's
    assert "wait" in processor.stage_ms


def test_lookahead_stops_cleanly_midway(short_clip, segmenter) -> None:
    processor = processor_for(SelfiePeople(segmenter))
    piped = overlap(open_source(str(short_clip), width=0).start(), processor, realtime=False)
    assert piped.read(timeout=5.0) is not None
    assert worker_threads()
    piped.stop()
    processor.close()
    assert not worker_threads()


class Flaky:
    """A real finder that fails on chosen frame numbers (counted in the order the model sees frames)."""

    def __init__(self, finder, fail_on: set[int], error: Exception | None = None) -> None:
        self.finder = finder
        self.fail_on = fail_on
        self.error = error or RuntimeError("model blew up")
        self.calls = 0

    def find(self, frame):
        self.calls += 1
        if self.calls - 1 in self.fail_on:
            raise self.error
        return self.finder.find(frame)


def test_lookahead_hides_exactly_the_frames_whose_model_run_failed(short_clip, segmenter) -> None:
    effect = make_effect("blur", 41)
    processor = FrameProcessor(finder=Flaky(SelfiePeople(segmenter), {3, 7}), effect=effect, want_alpha=True)
    got = drain_overlapped(short_clip, processor)
    failed = [index for index, item in enumerate(got) if item[3]]
    assert failed == [3, 7]
    for index in failed:
        frame, output, alpha, _ = got[index]
        np.testing.assert_array_equal(output, hide_whole_frame(frame, effect))  # never the raw frame
        assert not alpha.any()
    assert len(got) == FRAMES


class Deferring:
    """A real finder with work for later frames, as ``Lookahead``'s ``after_handoff`` hook expects: each frame's
    largest region is measured after the frame is handed out (or, synchronously, before the next ``find``),
    and the next frame's people carry it in their score. ``fail_on``: hook runs (0-based) that raise."""

    def __init__(self, finder, fail_on: set[int] = frozenset()) -> None:
        self.finder = finder
        self.fail_on = fail_on
        self.pending: list[Person] | None = None
        self.previous = 0.0
        self.used: list[float] = []  # the value each frame's people got
        self.hooks: list[str] = []  # the thread each deferred piece of work ran on

    def find(self, frame):
        if self.pending is not None:
            self.after_handoff()  # nobody called the hook: the synchronous path
        people, grid = self.finder.find(frame)
        self.pending = people
        self.used.append(self.previous)
        return [Person(0.5 + 0.5 * self.previous, p.box, p.mask, p.face) for p in people], grid

    def after_handoff(self) -> None:
        people, self.pending = self.pending, None
        if people is None:
            return
        self.hooks.append(threading.current_thread().name)
        if len(self.hooks) - 1 in self.fail_on:
            raise RuntimeError("work between frames blew up")
        self.previous = max((p.area for p in people), default=0.0)


def test_lookahead_runs_the_finders_work_for_later_frames_between_frames(short_clip, segmenter) -> None:
    """``after_handoff`` runs on the worker once per frame, the results are the synchronous path's, and a failing
    hook hides the next frame (fails closed) and only that one."""
    sync = Deferring(SelfiePeople(segmenter))
    source = open_source(str(short_clip), width=0).start()
    try:
        expected = drain(source, processor_for(sync))
    finally:
        source.stop()
    overlapped = Deferring(SelfiePeople(segmenter))
    processor = processor_for(overlapped)
    got = drain_overlapped(short_clip, processor)
    assert overlapped.used == sync.used and len(got) == len(expected) == FRAMES
    assert sync.hooks == ["MainThread"] * (FRAMES - 1) and overlapped.hooks == ["segmentation"] * FRAMES
    for want, have in zip(expected, got, strict=True):
        np.testing.assert_array_equal(have[1], want[1])
        assert not have[3]

    effect = make_effect("blur", 41)
    processor = FrameProcessor(finder=Deferring(SelfiePeople(segmenter), {4}), effect=effect, want_alpha=True)
    got = drain_overlapped(short_clip, processor)
    assert [index for index, item in enumerate(got) if item[3]] == [5]  # the hook after frame 4 failed
    np.testing.assert_array_equal(got[5][1], hide_whole_frame(got[5][0], effect))
    assert not worker_threads()


def test_lookahead_lets_a_model_that_does_not_run_stop_the_app(short_clip, segmenter) -> None:
    broken = Flaky(SelfiePeople(segmenter), {0}, ModelError("the model does not run"))
    source = open_source(str(short_clip), width=0).start()
    piped = Lookahead(source, broken).start()
    try:
        frame = piped.read(timeout=5.0)
        with pytest.raises(ModelError):
            piped.find(frame)
    finally:
        piped.stop()


def test_overlap_runs_no_model_ahead_while_paused(short_clip, segmenter) -> None:
    counting = Flaky(SelfiePeople(segmenter), set())
    paused = threading.Event()
    paused.set()
    processor = FrameProcessor(finder=counting, effect=make_effect("blur", 41))
    piped = overlap(open_source(str(short_clip), width=0).start(), processor, realtime=False, idle=paused.is_set)
    try:
        frames = [piped.read(timeout=5.0) for _ in range(3)]
        assert counting.calls == 0  # paused: the worker handed frames out without segmenting them
        paused.clear()
        result = processor.process(frames[-1])  # resumed: this frame is segmented now (on demand), and filtered
        assert not result.failed and result.alpha.any()
        for _ in range(2):
            processor.process(piped.read(timeout=5.0))
        assert counting.calls >= 3  # and the worker segments ahead again
    finally:
        piped.stop()
        processor.close()


def test_lookahead_skips_the_model_when_not_wanted_and_runs_it_on_demand(short_clip, segmenter) -> None:
    counting = Flaky(SelfiePeople(segmenter), set())
    source = open_source(str(short_clip), width=0).start()
    piped = Lookahead(source, counting, wanted=lambda: False).start()
    try:
        frame = piped.read(timeout=5.0)
        piped.read(timeout=5.0)
        assert counting.calls == 0  # the worker did not run the model ahead
        people, grid = piped.find(frame)  # privacy turned on: the model runs now, for this frame
        assert counting.calls == 1
        assert grid == (144, 256) and people
    finally:
        piped.stop()


def test_lookahead_runs_the_model_for_a_frame_it_did_not_read(frames, segmenter, tmp_path) -> None:
    cv2.imwrite(str(tmp_path / "other.png"), frames[0])
    source = open_source(str(tmp_path / "other.png"), width=0)
    assert isinstance(source, ImageSource)
    piped = Lookahead(source, SelfiePeople(segmenter)).start()
    try:
        people, grid = piped.find(frames[5])
        expected, expected_grid = SelfiePeople(segmenter).find(frames[5])
        assert grid == expected_grid
        np.testing.assert_array_equal(people[0].mask, expected[0].mask)
    finally:
        piped.stop()
    assert not worker_threads()


# ------------------------------------------------------------------------------------------ LatestMask


class HeldBack:
    """The real selfie finder behind a gate the test opens (a stand-in for a slow model)."""

    def __init__(self, finder) -> None:
        self.finder = finder
        self.gate = threading.Event()
        self.fail = False
        self.die = False

    def find(self, frame):
        self.gate.wait(10.0)
        if self.die:
            raise SystemExit("worker killed")  # not an Exception: ends the worker thread
        if self.fail:
            raise RuntimeError("model failed")
        return self.finder.find(frame)


def test_latest_mask_hides_frames_until_the_first_mask_then_composites(frames, segmenter) -> None:
    slow = HeldBack(SelfiePeople(segmenter))
    effect = make_effect("blur", 41)
    latest = LatestMask(slow)
    processor = FrameProcessor(finder=latest, effect=effect)
    try:
        for frame in frames[:5]:
            result = processor.process(frame)
            assert result.failed
            np.testing.assert_array_equal(result.output, hide_whole_frame(frame, effect))
            assert not np.array_equal(result.output, frame)
        slow.gate.set()
        assert latest.wait_first(10.0)
        result = processor.process(frames[6])
        assert not result.failed
        assert latest.updates >= 1
        kept = float((result.alpha > 0.5).mean())
        assert 0.05 < kept < 0.9  # the person (found on an earlier frame) stays sharp, the rest does not
    finally:
        processor.close()
    assert not worker_threads()


@contextlib.contextmanager
def _latest_mask_running(frames, segmenter) -> Iterator[tuple[HeldBack, LatestMask, Effect, FrameProcessor]]:
    """A LatestMask over an ungated selfie finder that has delivered its first mask and filters frame 1."""
    slow = HeldBack(SelfiePeople(segmenter))
    slow.gate.set()
    latest = LatestMask(slow)
    effect = make_effect("blur", 41)
    processor = FrameProcessor(finder=latest, effect=effect)
    try:
        processor.process(frames[0])
        assert latest.wait_first(10.0)
        assert not processor.process(frames[1]).failed
        yield slow, latest, effect, processor
    finally:
        processor.close()


def test_latest_mask_runs_the_model_once_on_a_frame_given_again_and_again(frames, segmenter) -> None:
    counting = Flaky(SelfiePeople(segmenter), set())
    latest = LatestMask(counting)
    try:
        with pytest.raises(MaskUnavailable):
            latest.find(frames[0])
        assert latest.wait_first(10.0)
        pause = threading.Event()
        for _ in range(10):  # a paused window filters the same frame 30 times a second
            latest.find(frames[0])
            pause.wait(0.03)
        latest.find(frames[1])  # a new frame is run
        _wait_for(lambda: latest.updates >= 2)
        assert counting.calls == 2
    finally:
        latest.close()


def test_latest_mask_fails_closed_after_a_model_failure_and_recovers(frames, segmenter) -> None:
    with _latest_mask_running(frames, segmenter) as (slow, latest, effect, processor):
        slow.fail = True
        _wait_for(lambda: _raises(latest, frames[2]))
        result = processor.process(frames[3])
        assert result.failed
        np.testing.assert_array_equal(result.output, hide_whole_frame(frames[3], effect))
        slow.fail = False
        _wait_for(lambda: not processor.process(frames[4]).failed)


def test_latest_mask_fails_closed_for_good_once_the_worker_died(frames, segmenter) -> None:
    with _latest_mask_running(frames, segmenter) as (slow, latest, effect, processor):
        slow.die = True
        _wait_for(lambda: _raises(latest, frames[2]))
        latest._thread.join(5.0)
        assert not latest._thread.is_alive()
        slow.die = False
        for frame in frames[3:8]:  # a good model would work again, but nobody runs it: stay hidden
            result = processor.process(frame)
            assert result.failed
            np.testing.assert_array_equal(result.output, hide_whole_frame(frame, effect))
        with pytest.raises(MaskUnavailable, match="died"):
            latest.find(frames[9])


def test_latest_mask_refuses_a_mask_from_frames_of_another_size(frames, segmenter) -> None:
    slow = HeldBack(InstanceLike(SelfiePeople(segmenter)))
    slow.gate.set()
    latest = LatestMask(slow)
    try:
        with pytest.raises(MaskUnavailable):
            latest.find(frames[0])
        assert latest.wait_first(10.0)
        with pytest.raises(MaskUnavailable, match="frames"):
            latest.find(cv2.resize(frames[1], (320, 240)))
    finally:
        latest.close()
    assert not worker_threads()


def test_latest_mask_passes_on_a_model_that_does_not_run(frames, segmenter) -> None:
    slow = Flaky(SelfiePeople(segmenter), {0}, ModelError("weights do not fit the graph"))
    latest = LatestMask(slow)
    try:
        with pytest.raises(MaskUnavailable):
            latest.find(frames[0])
        _wait_for(lambda: _raises(latest, frames[1], ModelError))
    finally:
        latest.close()


class InstanceLike:
    """The selfie people with masks on the frame grid, as Mask R-CNN gives them."""

    def __init__(self, finder) -> None:
        self.finder = finder

    def find(self, frame):
        people, _ = self.finder.find(frame)
        size = (frame.shape[1], frame.shape[0])
        return [Person(p.score, p.box, cv2.resize(p.mask, size)) for p in people], frame.shape[:2]


def _raises(latest: LatestMask, frame: np.ndarray, kind: type[Exception] = MaskUnavailable) -> bool:
    try:
        latest.find(frame)
    except kind:
        return True
    except Exception:
        return False
    return False


def _wait_for(condition, timeout: float = 10.0) -> None:
    done = threading.Event()
    for _ in range(int(timeout / 0.02)):
        if condition():
            return
        done.wait(0.02)
    raise AssertionError("condition not reached")


# ------------------------------------------------------------------------------------------ follow_people


def test_follow_people_takes_the_fresh_edge_only_near_the_stale_person() -> None:
    from privacy_filter.concurrent.latest import _Mask

    height, width = 40, 80
    stale = np.zeros((height, width), np.float32)
    stale[10:30, 20:40] = 1.0  # where the model last saw the person
    fresh = np.zeros((height, width), np.float32)
    fresh[10:30, 24:44] = 0.9  # they moved 4 px right
    fresh[10:30, 65:75] = 0.8  # someone else, far away
    mask = _Mask([Person(0.9, (0.25, 0.25, 0.5, 0.75), stale)], (height, width), (480, 640), 0.0, 0.0)
    (person,) = follow_people(mask, fresh, reach=0.1)  # reach 8 px
    assert person.mask.shape == (height, width)
    assert np.allclose(person.mask[10:30, 24:44], 0.9)  # the moved edge follows the fresh map
    assert not person.mask[:, 60:].any()  # the other person is not pulled in
    assert not person.mask[:5].any()  # nothing where the fresh map has nobody
    again = follow_people(mask, fresh, reach=0.1)  # cached grown masks give the same result
    np.testing.assert_array_equal(again[0].mask, person.mask)


# ------------------------------------------------------------------------------------------ overlap wiring


def test_overlap_picks_the_worker_for_each_case(short_clip, frames, tmp_path, segmenter) -> None:
    image_path = tmp_path / "frame.png"
    cv2.imwrite(str(image_path), frames[0])
    processor = processor_for(SelfiePeople(segmenter))
    image = open_source(str(image_path), width=0)
    assert overlap(image, processor, realtime=True) is image  # a still image: nothing to overlap
    assert isinstance(processor.finder, SelfiePeople)

    first = overlap(open_source(str(short_clip), width=0).start(), processor, realtime=False)
    second = overlap(open_source(str(short_clip), width=0).start(), processor, realtime=False)
    assert isinstance(second, Lookahead) and second.finder is first.finder  # no worker wraps a worker
    first.stop()
    second.stop()
    processor.close()

    slow = processor_for(InstancePeople(object()))
    source = open_source(str(short_clip), width=0).start()
    try:
        assert overlap(source, slow, realtime=True, follow=False) is source
        latest = slow.finder
        assert isinstance(latest, LatestMask)
        assert overlap(source, slow, realtime=True, follow=False, replay=True) is source
        assert slow.finder is latest  # the same clip again (--loop): keep the newest mask
        overlap(source, slow, realtime=True, follow=False)
        assert slow.finder is not latest and not latest._thread.is_alive()  # a new input: a new worker
    finally:
        source.stop()
        slow.close()
    assert not worker_threads()


def test_overlap_runs_opencv_on_one_thread_while_litert_models_run(short_clip, segmenter) -> None:
    """Our own threads fill the cores, so OpenCV's pool would only spin: while a worker over LiteRT models runs,
    OpenCV uses runtime.PIPELINE_OPENCV_THREADS, and what it had before once the last such worker closes. A
    model on cv2.dnn (which spreads its own inference over OpenCV's threads) leaves them alone."""
    from privacy_filter.segment import runtime

    saved = cv2.getNumThreads()
    cv2.setNumThreads(2)
    try:
        assert segmenter.runtime == runtime.LITERT
        processor = processor_for(SelfiePeople(segmenter))
        first = overlap(open_source(str(short_clip), width=0).start(), processor, realtime=False)
        assert cv2.getNumThreads() == runtime.PIPELINE_OPENCV_THREADS == 1
        assert not processor.process(first.read(timeout=5.0)).failed
        second = overlap(open_source(str(short_clip), width=0).start(), processor, realtime=True)  # next input
        assert cv2.getNumThreads() == 1
        first.stop()
        second.stop()
        processor.close()
        assert cv2.getNumThreads() == 2

        fallback = processor_for(SelfiePeople(SelfieSegmenter(runtime=runtime.OPENCV)))
        piped = overlap(open_source(str(short_clip), width=0).start(), fallback, realtime=False)
        assert cv2.getNumThreads() == 2
        piped.stop()
        fallback.close()
        assert cv2.getNumThreads() == 2
    finally:
        cv2.setNumThreads(saved)
    assert threads_end()


# ------------------------------------------------------------------------------------------ the real Mask R-CNN graph


@pytest.mark.skipif(not standin.real_pbtxt().is_file(), reason="real Mask R-CNN text graph not in ../shared")
def test_real_mask_rcnn_graph_runs_asynchronously_and_fails_closed_first(tmp_path_factory, frames, segmenter) -> None:
    from privacy_filter.segment.mask_rcnn import MaskRCNNSegmenter

    model = MaskRCNNSegmenter(standin.cached_standin_dir(tmp_path_factory), confidence=0.5)
    effect = make_effect("blur", 41)
    processor = FrameProcessor(finder=InstancePeople(model), effect=effect)
    source = open_source(str(CLIP), width=0).start()
    try:
        assert overlap(source, processor, realtime=True) is source
        latest = processor.finder
        assert isinstance(latest, LatestMask) and latest.follow is not None
        first = processor.process(frames[0])
        assert first.failed  # the model takes seconds: the first frame is hidden, never shown raw
        np.testing.assert_array_equal(first.output, hide_whole_frame(frames[0], effect))
        assert latest.wait_first(120.0)
        shown = processor.process(frames[1])
        assert not shown.failed
        assert shown.alpha.shape == frames[1].shape[:2]
        assert set(processor.stage_ms) >= {"segment", "mask_age", "follow", "refine", "effect", "blend"}
    finally:
        source.stop()
        processor.close()
    assert threads_end()
