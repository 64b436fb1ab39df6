"""Step code inputs are computed from the scripts' imports (t5qa.plan.code_inputs); the package has no import cycles."""

from pathlib import Path

from t5qa.plan.code_inputs import code_inputs, imported_names, module_files

from .conftest import REPO

LIBRARY = REPO / "src" / "t5qa"


def test_imports_at_any_depth_and_inside_functions(tmp_path):
    library = tmp_path / "t5qa"
    library.mkdir()
    (library / "__init__.py").write_text("")
    (library / "a.py").write_text("from t5qa.b import thing\n")
    (library / "b.py").write_text("def thing():\n    import t5qa.c\n")
    (library / "c.py").write_text("from t5qa import d\n")
    (library / "d.py").write_text("import os\n")
    (library / "unused.py").write_text("")
    script = tmp_path / "step.py"
    script.write_text("import json\n\nfrom t5qa.a import x  # noqa\n")
    names = sorted(Path(p).name for p in code_inputs(script, library))
    assert names == ["__init__.py", "a.py", "b.py", "c.py", "d.py"]


def test_a_name_that_is_not_a_module_adds_only_the_module_it_comes_from(tmp_path):
    library = tmp_path / "t5qa"
    library.mkdir()
    (library / "__init__.py").write_text("SPLITS = ()\n")
    assert module_files("t5qa.SPLITS", library) == [library / "__init__.py"]


def package_graph() -> dict[str, set[str]]:
    """module -> the package modules it imports (at module level or inside functions)."""

    def module(path: Path) -> str:
        return str(path.relative_to(LIBRARY).with_suffix(""))

    graph = {}
    for path in sorted(LIBRARY.rglob("*.py")):
        targets = {module(f) for name in imported_names(path) for f in module_files(name, LIBRARY)}
        graph[module(path)] = targets - {module(path), "__init__"} - ({module(path.parent / "__init__.py")})
    return graph


def test_the_package_has_no_import_cycles():
    graph, state, cycles = package_graph(), {}, []

    def visit(node, trail):
        state[node] = "open"
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                cycles.append(" -> ".join([*trail[trail.index(target) :], target]))
            elif target not in state:
                visit(target, [*trail, target])
        state[node] = "done"

    for node in graph:
        if node not in state:
            visit(node, [node])
    assert cycles == []


def test_every_step_script_imports_the_library_only_through_computed_inputs():
    """Each rule lists its script's computed code: no hand-written module lists remain in the rules."""
    rules = "\n".join(p.read_text() for p in (REPO / "workflow" / "rules").glob("*.smk"))
    assert "modules(" not in rules
    for script in (REPO / "workflow" / "scripts").glob("*.py"):
        if script.name != "make_demo_data.py":
            assert f'step_code("{script.name}")' in rules, script.name


# The wings, in the pipeline's order: a module imports the shared base (the package's top level), its own wing, or a
# wing before its own — never one after it, and the base imports no wing. The commands sit above the wings, and the
# entry point (main) above them all.
WINGS = ["data", "evaluate", "model", "report", "plan", "commands", "main"]


def wing(module: str) -> str | None:
    """The wing a module belongs to (`model/predict` -> model), None for the shared base."""
    return module.split("/")[0] if "/" in module or module == "main" else None


def test_imports_point_only_down_or_into_the_base():
    upward = []
    for module, targets in package_graph().items():
        for target in targets:
            own, other = wing(module), wing(target)
            if other is None:
                continue
            if own is None or WINGS.index(other) > WINGS.index(own):
                upward.append(f"{module} -> {target}")
    assert upward == []


def test_every_library_module_lives_in_a_wing_or_the_shared_base():
    """The shared base stays small: what every wing uses (settings, command-line helpers, errors, atomic writes,
    text cleaning, manifests, progress lines) and the entry point; everything else belongs to a wing."""
    base = sorted(path.stem for path in LIBRARY.glob("*.py"))
    assert base == ["__init__", "atomic", "cli", "errors", "main", "manifest", "progress", "settings", "text"]
    assert sorted(p.name for p in LIBRARY.iterdir() if (p / "__init__.py").exists()) == sorted(WINGS[:-1])
