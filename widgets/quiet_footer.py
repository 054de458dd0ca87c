"""A Footer that rebuilds its keys only when the keys it would show change.

Textual's Footer recomposes (new FooterKey widgets, styled and laid out) whenever the screen's bindings are
updated: focus moving, a screen opening, the panes mounting. At start-up that happened four times in the ~100 ms
while the first readings arrived, with the same keys each time (~15–20 ms of CPU each, measured), delaying the
panes' first paint.
"""

from __future__ import annotations

from typing import Any

from textual.widgets import Footer


class QuietFooter(Footer):
    _shown: tuple[Any, ...] | None = None

    def _keys(self) -> tuple[Any, ...]:
        """Everything `Footer.compose` draws from: the shown bindings, their state, the palette key."""
        if not self._bindings_ready or not self.is_attached:
            return ()
        active = self.screen.active_bindings
        bindings = tuple(
            (binding.key, binding.action, binding.description, binding.group, binding.key_display, enabled, tooltip)
            for (_node, binding, enabled, tooltip) in active.values()
            if binding.show
        )
        palette = active.get(self.app.COMMAND_PALETTE_BINDING) if self.show_command_palette else None
        palette_key = None if palette is None else (palette.binding.key, palette.enabled, palette.tooltip)
        return (bindings, palette_key, self.app.ENABLE_COMMAND_PALETTE)

    async def recompose(self) -> None:
        keys = self._keys()
        if keys and keys == self._shown:
            return
        self._shown = keys or None
        await super().recompose()
