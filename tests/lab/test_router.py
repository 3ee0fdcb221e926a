"""Routing: paths, 404, 405 with Allow (RFC 9110 §15.5.6), HEAD as GET."""
from __future__ import annotations

import pytest

from lab.app import Response
from lab.router import Router, query_params, split_target
from protocols.errors import HTTPError
from protocols.http1 import Request


def request(method: bytes, target: bytes) -> Request:
    return Request(method, target, b"1.1", [(b"Host", b"x")])


@pytest.fixture
def router():
    r = Router()
    r.add(r"/items/(?P<item>[a-z0-9]+)", get=lambda req, item: Response(200, body=item.encode()),
          delete=lambda req, item: Response(204))
    r.add(r"/any", any=lambda req: Response(200, body=req.method))
    return r


def test_named_groups_become_arguments(router):
    assert router(request(b"GET", b"/items/abc?x=1")).body == b"abc"


def test_unknown_path_is_404(router):
    with pytest.raises(HTTPError) as err:
        router(request(b"GET", b"/nothing"))
    assert err.value.status == 404


def test_wrong_method_is_405_with_allow__rfc9110_15_5_6(router):
    with pytest.raises(HTTPError) as err:
        router(request(b"POST", b"/items/abc"))
    assert err.value.status == 405
    assert err.value.headers == [(b"Allow", b"DELETE, GET, HEAD")]


def test_head_is_served_by_get__rfc9110_9_3_2(router):
    assert router(request(b"HEAD", b"/items/abc")).status == 200


def test_any_accepts_every_method(router):
    assert router(request(b"BREW", b"/any")).body == b"BREW"


def test_absolute_form_target_routes_by_its_path__rfc9112_3_2_2(router):
    assert router(request(b"GET", b"http://example.com/items/z9")).body == b"z9"


@pytest.mark.parametrize("target, path, query", [
    (b"/a%20b?x=1", "/a b", "x=1"),
    (b"http://h:80", "/", ""),
    (b"https://h/p?q", "/p", "q"),
    (b"*", "*", ""),
])
def test_split_target(target, path, query):
    assert split_target(target) == (path, query)


def test_query_params_keep_the_last_value_and_blanks():
    assert query_params("a=1&a=2&b=&c") == {"a": "2", "b": "", "c": ""}
