"""models/onnx_engine.py: which paths are exports, and one-line errors for files that are not."""
from __future__ import annotations

import json

import onnx
import pytest
from onnx import TensorProto, helper

from nircolor.models import save_generator
from nircolor.models.checkpoint import CheckpointError
from nircolor.models.export import EXPORT_FILE, ONNX_FILE, ExportError
from nircolor.models.onnx_engine import OnnxEngine, is_exported_model
from nircolor.models.names import parse_model_name


def _identity_model(metadata: dict[str, str] | None = None) -> onnx.ModelProto:
    """A valid (B,1,H,W) -> (B,1,H,W) ONNX model that no nircolor export wrote."""
    graph = helper.make_graph(
        [helper.make_node("Identity", ["nir"], ["rgb"])],
        "identity",
        [helper.make_tensor_value_info("nir", TensorProto.FLOAT, ["batch", 1, "height", "width"])],
        [helper.make_tensor_value_info("rgb", TensorProto.FLOAT, ["batch", 1, "height", "width"])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    for key, value in (metadata or {}).items():
        model.metadata_props.add(key=key, value=value)
    return model


def test_is_exported_model_tells_exports_from_checkpoints(tmp_path):
    checkpoint = save_generator(parse_model_name("johnson-6").tiny().build(), tmp_path / "checkpoint")
    folder = tmp_path / "export"
    folder.mkdir()
    onnx.save(_identity_model(), folder / ONNX_FILE)
    assert not is_exported_model(folder)  # model.onnx alone is not an export folder
    (folder / EXPORT_FILE).write_text("{}")
    assert is_exported_model(folder)
    assert is_exported_model(folder / ONNX_FILE)
    assert not is_exported_model(checkpoint)
    assert not is_exported_model(tmp_path / "missing.onnx")
    assert not is_exported_model(checkpoint / "config.json")


@pytest.mark.parametrize("case", ["missing file", "folder without model.onnx", "garbled", "not nircolor", "bad metadata"])
def test_bad_files_fail_in_one_line_naming_the_file(tmp_path, case):
    path = tmp_path / "model.onnx"
    if case == "missing file":
        path = tmp_path / "nothing.onnx"
    elif case == "folder without model.onnx":
        path = tmp_path / "empty-export"
        path.mkdir()
    elif case == "garbled":
        path.write_bytes(b"\x08\x07garbage that is no protobuf" * 10)
    elif case == "not nircolor":
        onnx.save(_identity_model(), path)
    else:
        onnx.save(_identity_model({"nircolor.model": "johnson-6", "nircolor.preprocessing": "{not json"}), path)
    with pytest.raises(ExportError) as raised:
        OnnxEngine(path)
    message = str(raised.value)
    assert str(path) in message and "\n" not in message
    assert isinstance(raised.value, ValueError) and not isinstance(raised.value, CheckpointError)


def test_metadata_is_read_without_the_checkpoint(tmp_path):
    info = {"model": {"name": "johnson-6"}, "preprocessing": {"nir_bits": 12}}
    path = tmp_path / "model.onnx"
    onnx.save(_identity_model({
        "nircolor.model": "johnson-6",
        "nircolor.preprocessing": json.dumps(info["preprocessing"]),
        "nircolor.checkpoint_info": json.dumps(info),
    }), path)
    engine = OnnxEngine(path, threads=2)
    assert (engine.model_name, engine.nir_bits, engine.checkpoint_info) == ("johnson-6", 12, info)
    assert engine.description.endswith("CPU, 2 threads, float32")
