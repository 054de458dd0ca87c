"""The top line: which environment this is (production is impossible to miss), mode, pause, clock."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from widgets.render import safe


class EnvBanner(Static):
    DEFAULT_CSS = """
    EnvBanner { height: 1; background: $panel; color: $text; padding: 0 1; }
    EnvBanner.-protected { background: $error; color: $text; text-style: bold; }
    """

    env_label: reactive[str] = reactive("")
    """Environment name and label as configured."""
    protected: reactive[bool] = reactive(False)
    """Production-like environment: shown in the error colour at all times."""
    paused: reactive[bool] = reactive(False)
    """Polling is paused (`p`)."""
    clock: reactive[str] = reactive("")
    """Wall clock, minute precision so it repaints once a minute."""
    write_until: reactive[str] = reactive("")
    """HH:MM when write mode ends; empty while read-only."""
    overall: reactive[str] = reactive("")
    """One-phrase summary of what is wrong, e.g. '2 crit · 1 warn'."""
    replay: reactive[str] = reactive("")
    """'REPLAY ▶ 10:14:38 ×4 42%' while a recording plays, 'PAST …' while a past moment is reviewed."""
    tls_off: reactive[bool] = reactive(False)
    """Some connection does not verify TLS certificates (an explicit opt-out in the config)."""
    recording: reactive[bool] = reactive(False)
    """Every reading is being written to a recording (ctrl+r)."""

    def render(self) -> Text:
        wide = self.size.width >= 100
        text = Text("opsconsole │ " if wide else "", style="bold")
        label = self.env_label if wide else self.env_label.split(" (")[0]
        text.append_text(safe(label, 40))
        if self.protected:
            text.append(" ⚠ PROTECTED", style="bold")
        if self.tls_off:
            text.append(" │ ")
            text.append("⚠ TLS OFF" if wide else "⚠TLS", style="bold reverse")
        if self.replay:
            text.append(" │ ")
            text.append(f"⏵ {self.replay}" if wide else self.replay, style="bold reverse")
            text.append(" │ actions off" if wide else "")
        elif self.write_until:
            text.append(" │ ")
            text.append(
                f"✎ WRITE until {self.write_until}" if wide else f"✎ W→{self.write_until}", style="bold reverse"
            )
        else:
            text.append(" │ read-only" if wide else " │ RO")
        if self.paused and not self.replay:
            text.append(" │ ")
            text.append("⏸ PAUSED", style="bold reverse")
        if self.recording:
            text.append(" │ ")
            text.append("● REC", style="bold red")
        if self.overall:
            text.append(f" │ {self.overall}")
        if self.clock:
            text.append(f" │ {self.clock}")
        return text

    def on_resize(self) -> None:
        self.refresh()

    def watch_protected(self, protected: bool) -> None:
        self.set_class(protected, "-protected")
