"""One ``model_info``: the registry's record, the network's own facts, the weight tags and the depth."""

import cnnzoo
import cnnzoo.analysis
import cnnzoo.models.factory


def test_one_function_under_one_name():
    assert cnnzoo.model_info is cnnzoo.analysis.model_info
    assert cnnzoo.models.factory.model_info is cnnzoo.model_info  # the old import path, an alias of the one


def test_the_record_joins_registry_network_weights_and_depth():
    info = cnnzoo.model_info("resnet50")
    assert (info["family"], info["year"], info["input_size"]) == ("resnet", 2015, (3, 224, 224))
    assert info["num_features"] == 2048 and info["classifier"] == "fc"  # read from the network itself
    assert info["pretrained_tags"][0] == "resnet50.tv2_in1k" and info["has_pretrained"] is True
    assert not dict.__contains__(info, "depth")  # not measured until read
    assert info["depth"] == 50


def test_a_weight_tag_names_the_same_architecture():
    assert cnnzoo.model_info("resnet50.tv_in1k") == cnnzoo.model_info("resnet50")


def test_the_apps_read_the_registry_for_family_and_input_size():
    # the benchmark's and the chart's "family" column is the registry's, as model_info gives it
    from cnnzoo.models.registry import get_model_entry

    for name in ("alexnet", "googlenet", "mobilenet_v2"):
        entry = get_model_entry(name)
        assert (entry.family, entry.input_size) == (
            cnnzoo.model_info(name)["family"],
            cnnzoo.model_info(name)["input_size"],
        )
