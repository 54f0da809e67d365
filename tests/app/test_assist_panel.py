"""The assist panel binds to the assist model: its controls drive the model, Accept hands over the edits."""

import numpy as np

from sra_seg_app.model.assist import AssistModel, Tool
from sra_seg_app.widgets.assist_panel import AssistPanel


def _model():
    yy, xx = np.mgrid[:32, :32]
    disc = np.hypot(yy - 16, xx - 16) < 7
    volume = np.stack([20 + 100 * disc + np.random.default_rng(z).normal(0, 2, disc.shape) for z in range(2)])
    return AssistModel(volume.astype(np.float32), np.zeros(volume.shape, np.uint8))


def test_panel_controls_drive_the_model_and_accept_emits_one_list_of_edits(qtbot):
    panel = AssistPanel(["RV", "Myo", "LV"])
    qtbot.addWidget(panel)
    model = _model()
    panel.bind(model)
    panel.tool_buttons[Tool.SMART_FILL].click()
    assert model.tool == Tool.SMART_FILL
    panel.k_slider.setValue(10)
    assert model.k < 1.0 and panel.k_label.text().startswith(f"{model.k:.1f}")
    assert not panel.accept_button.isEnabled()
    model.fill_click((0, 16, 16), 3)
    assert panel.accept_button.isEnabled()
    with qtbot.waitSignal(panel.accepted) as signal:
        panel.accept_button.click()
    assert [e.z for e in signal.args[0]] == [0] and model.preview is None


def test_propose_is_offered_only_with_a_model(qtbot):
    panel = AssistPanel(["RV", "Myo", "LV"])
    qtbot.addWidget(panel)
    model = _model()
    panel.bind(model)
    assert not panel.tool_buttons[Tool.PROPOSE].isEnabled()
    assert "No model yet" in panel.status.text()
