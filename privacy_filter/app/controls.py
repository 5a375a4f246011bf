"""Live controls: the state the keys change, and what each key does. Pure: no window here."""

from __future__ import annotations

from dataclasses import dataclass

from ..render.effects import DEFAULT_KERNEL, EFFECT_NAMES, KERNEL_FLOOR, MAX_KERNEL

KERNEL_EFFECTS = ("blur", "pixelate", "desaturate")  # the effects +/- change (the others ignore --kernel)

KEY_HELP = (
    ("p", "privacy on/off"),
    ("u", "re-pick the user (nearest the centre)"),
    ("b", "next background effect"),
    ("+/-", f"stronger/weaker blur (not under {KERNEL_FLOOR})"),
    ("m", "show the matte"),
    ("f", "FPS overlay"),
    ("s", "save a snapshot PNG"),
    ("space", "pause/resume"),
    ("h", "show/hide this help"),
    ("q/Esc", "quit"),
)


@dataclass
class Controls:
    """What the user has switched on or off in the window."""

    privacy: bool = True
    effect: str = "blur"
    kernel: int = DEFAULT_KERNEL
    show_matte: bool = False
    show_fps: bool = False
    show_help: bool = False
    quit: bool = False
    snapshot: bool = False
    paused: bool = False
    repick: bool = False  # set by u; the app re-picks the user on the next frame and clears it
    effects: tuple[str, ...] = EFFECT_NAMES  # what b cycles through

    def handle_key(self, key: int) -> bool:
        """Apply one key press; True if it changed how frames are filtered (effect or kernel)."""
        char = chr(key) if 0 <= key < 256 else ""
        if char in ("q", "Q") or key == 27:
            self.quit = True
        elif char == "p":
            self.privacy = not self.privacy
        elif char in ("u", "U"):
            self.repick = True
        elif char == "b":
            index = self.effects.index(self.effect) if self.effect in self.effects else -1
            self.effect = self.effects[(index + 1) % len(self.effects)]
            return True
        elif char in ("+", "="):
            self.kernel = min(MAX_KERNEL, max(KERNEL_FLOOR, self.kernel) + 10)
            return True
        elif char in ("-", "_"):
            self.kernel = max(KERNEL_FLOOR, self.kernel - 10)  # the privacy floor: no key shows the room
            return True
        elif char == "m":
            self.show_matte = not self.show_matte
        elif char == "f":
            self.show_fps = not self.show_fps
        elif char == "h":
            self.show_help = not self.show_help
        elif char == "s":
            self.snapshot = True
        elif char == " ":
            self.paused = not self.paused
        return False

    def title(self, fps: float | None) -> str:
        """The window title: the state at a glance, e.g. "Privacy filter — privacy ON, blur 41, 30 FPS"."""
        effect = f"{self.effect} {self.kernel}" if self.effect in KERNEL_EFFECTS else self.effect
        parts = [f"privacy {'ON' if self.privacy else 'OFF'}", effect]
        if self.show_matte:
            parts.append("showing the matte")
        if self.paused:
            parts.append("paused")
        if fps:
            parts.append(f"{fps:.0f} FPS")
        return "Privacy filter \u2014 " + ", ".join(parts)


def apply_clicks(window: object, selector: object) -> None:
    """Hand the preview window's clicks (``take_clicks``) to the person selection (``toggle_at``): a click on a
    person toggles them between kept sharp and hidden. Either side lacking the verb (no window, ``--keep all``'s
    selector is the same class but ignores it): nothing happens."""
    take = getattr(window, "take_clicks", None)
    toggle = getattr(selector, "toggle_at", None)
    if take is None or toggle is None:
        return
    for x, y in take():
        toggle(x, y)
