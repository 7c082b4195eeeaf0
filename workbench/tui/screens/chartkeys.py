"""Chart keys shared by the run detail and compare screens: metric, x axis, smoothing, log y."""

from __future__ import annotations

from textual.binding import Binding

from workbench.tui.metrics import X_MODES

SMOOTHING_STEPS = (0.3, 0.6, 0.8, 0.9, 0.95, 0.99)
DEFAULT_SMOOTHING = 0.6


class ChartKeys:
    """Mixin for a Screen with a `chart` (LineChart) and a `reload_chart()` method."""

    CHART_BINDINGS = [
        Binding("m", "metric(1)", "Metric"),
        Binding("M", "metric(-1)", "Prev metric", show=False),
        Binding("a", "x_axis", "X axis"),
        Binding("s", "smooth", "Smooth"),
        Binding("left_square_bracket", "strength(-1)", "Less smooth", show=False),
        Binding("right_square_bracket", "strength(1)", "More smooth", show=False),
        Binding("l", "log_y", "Log y"),
    ]
    x_modes: tuple[str, ...] = X_MODES
    metric: str | None = None
    x_mode: str = "step"
    smooth_on: bool = True
    smooth_weight: float = DEFAULT_SMOOTHING

    def metric_choices(self) -> list[str]:
        raise NotImplementedError

    def reload_chart(self) -> None:
        raise NotImplementedError

    def show_chart_state(self) -> None:
        """Update the line describing what the chart shows."""

    def action_metric(self, delta: int) -> None:
        choices = self.metric_choices()
        if not choices:
            self.app.notify("no metrics logged yet", severity="warning")
            return
        i = choices.index(self.metric) if self.metric in choices else -delta
        self.metric = choices[(i + delta) % len(choices)]
        self.reload_chart()

    def action_x_axis(self) -> None:
        i = self.x_modes.index(self.x_mode) if self.x_mode in self.x_modes else -1
        self.x_mode = self.x_modes[(i + 1) % len(self.x_modes)]
        self.reload_chart()

    def action_smooth(self) -> None:
        self.smooth_on = not self.smooth_on
        self.chart.smoothing = self.smooth_weight if self.smooth_on else 0.0
        self.show_chart_state()

    def action_strength(self, delta: int) -> None:
        steps = SMOOTHING_STEPS
        if delta > 0:
            nxt = next((s for s in steps if s > self.smooth_weight + 1e-9), steps[-1])
        else:
            nxt = next((s for s in reversed(steps) if s < self.smooth_weight - 1e-9), steps[0])
        self.smooth_weight, self.smooth_on = nxt, True
        self.chart.smoothing = nxt
        self.show_chart_state()

    def action_log_y(self) -> None:
        self.chart.log_y = not self.chart.log_y
        self.show_chart_state()

    def chart_state_text(self, what: str) -> str:
        smooth = f"EMA {self.smooth_weight:g}" if self.smooth_on else "raw"
        return f"{what} · x: {self.x_mode} · {smooth} · {'log' if self.chart.log_y else 'linear'} y"
