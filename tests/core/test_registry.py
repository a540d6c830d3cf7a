"""Registry behaviour: register, get, wildcard list, duplicates, unknown names, nested specs."""

from __future__ import annotations

import functools
from typing import Annotated, Callable, Literal

import pytest

from mertk import ConfigError, MertkError, PluginError
from mertk.registry import Components, Ref, Registry


class Gate:
    """A gate with a gain."""

    def __init__(self, channels: int, gain: float = 1.0, mode: Literal["soft", "hard"] = "soft") -> None:
        self.channels, self.gain, self.mode = channels, gain, mode


class Net:
    def __init__(self, num_classes: int, depth: int = 2,
                 gate: Annotated[Callable[..., Gate], Ref("attention", provided=("channels",))] = "gate",
                 head: Annotated[object, Ref("loss")] = "ce") -> None:
        self.num_classes, self.depth, self.gate, self.head = num_classes, depth, gate(channels=8), head


class CE:
    def __init__(self, smoothing: float = 0.0) -> None:
        self.smoothing = smoothing


@pytest.fixture
def components() -> Components:
    c = Components()
    c["attention"].register("gate", Gate, plugin="p1")
    c["attention"].register("gate-lazy", "tests_lazy_missing.module:Thing", plugin="p2")
    c["model"].register("net", Net, plugin="p1")
    c["loss"].register("ce", CE, plugin="p1")
    return c


def test_register_get_and_wildcards():
    reg = Registry("backbone")
    for name in ["resnet18", "resnet50", "inception", "vit-small"]:
        reg.register(name, CE, plugin="x")
    assert [i.name for i in reg.list("res*")] == ["resnet18", "resnet50"]
    assert [i.name for i in reg.list("*n*")] == ["inception", "resnet18", "resnet50"]
    assert [i.name for i in reg.list("vit-?mall")] == ["vit-small"]
    assert reg.get("inception").factory is CE and len(reg) == 4


def test_duplicate_names_both_plugins():
    reg = Registry("loss")
    reg.register("focal", CE, plugin="mertk-a")
    with pytest.raises(PluginError, match="registered twice: by plugin 'mertk-a' and by plugin 'other-b'"):
        reg.register("focal", CE, plugin="other-b")


def test_unknown_name_suggests_and_lists():
    reg = Registry("attention")
    reg.register("cbam", Gate, plugin="p")
    reg.register("se", Gate, plugin="p")
    with pytest.raises(MertkError) as exc:
        reg.get("cbma")
    assert str(exc.value) == "unknown attention 'cbma' (did you mean 'cbam'?); installed: cbam, se"


def test_description_from_docstring_or_given():
    reg = Registry("attention")
    assert reg.register("gate", Gate, plugin="p").description == "A gate with a gain."
    assert reg.register("g2", Gate, plugin="p", description="custom").description == "custom"


def test_bad_factory_rejected():
    with pytest.raises(PluginError, match="non-text name"):
        Registry("loss").register("", CE, plugin="p")
    with pytest.raises(PluginError, match="'module:attribute' string"):
        Registry("loss").register("x", "not-a-ref", plugin="p")


def test_lazy_factory_error_names_plugin(components):
    with pytest.raises(PluginError, match="plugin 'p2': attention 'gate-lazy' points to"):
        _ = components["attention"].get("gate-lazy").factory


def test_lazy_factory_imports_on_use():
    reg = Registry("loss")
    info = reg.register("od", "collections:OrderedDict", plugin="p")
    assert "factory" not in info.__dict__  # nothing imported yet
    import collections

    assert info.factory is collections.OrderedDict


def test_build_nested_with_provided_and_defaults(components):
    net = components.build("model", {"name": "net", "gate": {"name": "gate", "gain": 2}}, num_classes=3)
    assert net.num_classes == 3 and net.gate.channels == 8 and net.gate.gain == 2.0
    assert isinstance(net.head, CE)  # default nested spec "ce" built too
    assert components.create("attention", "gate", channels=4).mode == "soft"


@pytest.mark.parametrize("spec, provided, message", [
    ({"name": "net", "dpeth": 3}, ("num_classes",), "m.yaml: model.dpeth: unexpected argument (did you mean 'depth'?)"),
    ({"name": "net", "gate": {"name": "gate", "reduction": 4}}, ("num_classes",),
     "m.yaml: model.gate.reduction: unexpected argument (attention 'gate' takes: channels, gain, mode); to swap in "
     "another attention without the old one's arguments, replace the whole mapping, e.g. --set 'model.gate={name: gate}'"),
    ({"name": "net", "depth": "deep"}, ("num_classes",), "m.yaml: model.depth: input should be a valid integer, unable to parse string as an integer, got 'deep'"),
    ({"name": "net"}, (), "m.yaml: model.num_classes: missing required argument of model 'net'"),
    ({"name": "net", "num_classes": 3}, ("num_classes",), "m.yaml: model.num_classes: is set by mertk at run time"),
    ({"name": "net", "gate": {"name": "gate", "mode": "medium"}}, ("num_classes",), "m.yaml: model.gate.mode: input should be 'soft' or 'hard', got 'medium'"),
    ({"name": "net", "gate": {"name": "gate", "channels": 2}}, ("num_classes",), "m.yaml: model.gate.channels: is set by mertk"),
    ({"name": "net", "gate": "gaet"}, ("num_classes",), "m.yaml: model.gate.name: unknown attention 'gaet' (did you mean 'gate'"),
    ({"gate": "gate"}, (), "m.yaml: model.name: missing: say which model to use"),
    (3, (), "m.yaml: model: expected a model name or a mapping with 'name', got 3"),
    ({"name": "net", "head": {"name": "ce", "smoothing": [1]}}, ("num_classes",), "m.yaml: model.head.smoothing: input should be a valid number, got [1]"),
])
def test_validate_messages(components, spec, provided, message):
    with pytest.raises(ConfigError) as exc:
        components.validate("model", spec, file="m.yaml", key="model", provided=provided)
    assert str(exc.value).startswith(message)


def test_validate_coerces_and_normalises(components):
    spec = components.validate("model", "net", provided=("num_classes",))
    assert spec == {"name": "net"}
    assert components.validate("loss", {"name": "ce", "smoothing": 1})["smoothing"] == 1.0


def test_unknown_kind(components):
    with pytest.raises(MertkError, match="unknown component kind 'atention' \\(did you mean 'attention'"):
        components["atention"]


def test_partial_is_a_real_callable(components):
    net = components.build("model", "net", num_classes=2)
    assert isinstance(net.gate, Gate)
    assert not isinstance(net.gate, functools.partial)


def test_underscore_parameters_are_not_config_settable():
    class Block:
        def __init__(self, width: int = 4, _groups: int = 1) -> None:
            self.width, self.groups = width, _groups

    c = Components()
    c["backbone"].register("block", Block, plugin="p")
    assert list(c["backbone"].get("block").parameters) == ["width"]
    with pytest.raises(ConfigError, match="backbone._groups: unexpected argument"):
        c.validate("backbone", {"name": "block", "_groups": 2}, key="backbone")


def test_list_of_nested_specs_is_validated_item_by_item(components):
    class Chain:
        def __init__(self, members: list[Annotated[object, Ref("attention", provided=("channels",))]] = ["gate"]):  # noqa: B006
            self.members = members

    components["model"].register("chain", Chain, plugin="p")
    spec = components.validate("model", {"name": "chain", "members": ["gate", {"name": "gate", "gain": 2}]})
    assert spec["members"] == [{"name": "gate"}, {"name": "gate", "gain": 2.0}]
    with pytest.raises(ConfigError, match=r"model.members.1.gian: unexpected argument \(did you mean 'gain'"):
        components.validate("model", {"name": "chain", "members": ["gate", {"name": "gate", "gian": 2}]}, key="model")
    with pytest.raises(ConfigError, match=r"model.members.0.name: unknown attention 'gaet'"):
        components.validate("model", {"name": "chain", "members": ["gaet"]}, key="model")
    with pytest.raises(ConfigError, match=r"model.members: expected a list of attention specs, got 'gate'"):
        components.validate("model", {"name": "chain", "members": "gate"}, key="model")


def test_a_factorys_check_arguments_runs_with_the_config_check(components) -> None:
    """What a signature cannot express (arguments passed on to a library) a factory checks in its
    optional ``check_arguments``; its ArgumentError becomes a ConfigError at the argument's key."""
    from mertk.errors import ArgumentError

    class Wrapper:
        def __init__(self, channels: int, options: dict | None = None) -> None:
            self.options = options

        @staticmethod
        def check_arguments(options: dict | None = None) -> None:
            if "colour" in (options or {}):
                raise ArgumentError("options.colour", "the library spells it 'color'")

    components["attention"].register("wrapper", Wrapper, plugin="p3")
    assert components.validate("attention", {"name": "wrapper", "options": {"color": 1}},
                               provided=("channels",))["options"] == {"color": 1}
    with pytest.raises(ConfigError) as exc:
        components.validate("model", {"name": "net", "gate": {"name": "wrapper", "options": {"colour": 1}}},
                            file="run.yaml", key="model", provided=("num_classes",))
    assert str(exc.value) == "run.yaml: model.gate.options.colour: the library spells it 'color'"


def test_a_component_whose_optional_package_is_missing_is_refused_with_the_install_command(components) -> None:
    """``requires`` is looked up without importing the factory or the package, by validate and
    by the name check that runs before torch loads."""
    components["loss"].register("fancy", "tests_lazy_missing.fancy:Loss", plugin="p4",
                                requires={"mertk_no_such_package": "mertk[fancy]"})
    message = ("run.yaml: loss.name: loss 'fancy' needs the Python package 'mertk_no_such_package', which is not "
               'installed. Fix: pip install "mertk[fancy]", or choose another loss')
    for check in (components.check_names, components.validate):
        with pytest.raises(ConfigError) as exc:
            check("loss", {"name": "fancy"}, file="run.yaml", key="loss")
        assert str(exc.value) == message
    assert "factory" not in components["loss"].get("fancy").__dict__  # never imported
    components["loss"].register("plain", CE, plugin="p4", requires={"collections": "collections"})
    assert components.validate("loss", "plain") == {"name": "plain"}


def test_a_component_spec_is_one_type_whichever_shape_the_config_wrote():
    from mertk.errors import ConfigError
    from mertk.registry import ComponentSpec

    assert ComponentSpec.of("focal") == ComponentSpec("focal", {})
    spec = ComponentSpec.of({"name": "focal", "gamma": 2.0}, kind="loss")
    assert (spec.name, dict(spec.arguments), spec.as_mapping()) == ("focal", {"gamma": 2.0},
                                                                     {"name": "focal", "gamma": 2.0})
    with pytest.raises(ConfigError, match=r"run\.yaml: loss\.0\.name: missing: say which loss to use"):
        ComponentSpec.of({"gamma": 2.0}, kind="loss", file="run.yaml", key="loss.0")
