"""A command's arguments that the API function behind it checks are refused there (one line, exit 2),
not by a second check in the command."""

from helpers import cli_error


def test_predict_without_model_or_weights_is_refused_by_load_model(capsys, tmp_path):
    image = tmp_path / "x.png"
    image.write_bytes(b"not read")
    line = cli_error(capsys, ["predict", str(image)])
    assert "give the model (--model NAME) or a run's checkpoint (--pretrained PATH)" in line
