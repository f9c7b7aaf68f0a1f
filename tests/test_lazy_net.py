"""``dill`` loads its socket layer (``dill.net``) lazily, on first use of one of its
names; any other missing name fails without loading it (issue 10)."""

import subprocess
import sys
import textwrap

import dill
import dill.net

# what dill.net brings in that ``import dill`` alone must not
HEAVY = ("dill.net", "ssl", "h11", "wsproto")


def _run(code):
    """Run ``code`` in a fresh interpreter; return its stdout."""
    p = subprocess.run([sys.executable, "-c", textwrap.dedent(code)],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return p.stdout


def test_the_lazy_names_are_exactly_dill_net_all():
    assert len(set(dill.net.__all__)) == len(dill.net.__all__)
    assert dill._NET_NAMES == set(dill.net.__all__)
    assert not dill._NET_NAMES & set(dill.__all__)


def test_every_net_name_resolves_to_the_dill_net_object():
    for name in dill.net.__all__:
        assert getattr(dill, name) is getattr(dill.net, name)


def test_a_typo_raises_attributeerror_without_loading_the_socket_layer():
    out = _run(f"""
        import sys
        import dill
        try:
            dill.fo
        except AttributeError as e:
            print(e)
        else:
            raise SystemExit("dill.fo did not raise")
        assert not hasattr(dill, "tcp_lisen")
        print([m for m in {HEAVY!r} if m in sys.modules])
    """)
    assert out.splitlines() == ["module 'dill' has no attribute 'fo'", "[]"]


def test_dir_lists_the_net_names_without_loading_the_socket_layer():
    out = _run(f"""
        import sys
        import dill
        names = dir(dill)
        assert set(names) >= set(dill.__all__), "core names missing"
        print(sorted(dill._NET_NAMES - set(names)))
        print([m for m in {HEAVY!r} if m in sys.modules])
    """)
    assert out.splitlines() == ["[]", "[]"]


def test_a_net_name_loads_the_socket_layer():
    out = _run("""
        import sys
        import dill
        from dill import tcp_listen
        print(tcp_listen is sys.modules["dill.net"].tcp_listen)
    """)
    assert out.splitlines() == ["True"]
