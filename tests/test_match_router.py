"""MatchRouter: first match wins, operators, shorthands, overrides, and errors found at load."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from understudy import MatchRouter, ProfileStore, RouteConfigError

if TYPE_CHECKING:
    from pathlib import Path

    from conftest import WriteProfile

ROUTER = MatchRouter.from_dict(
    {
        "default": "fast",
        "routes": [
            {"match": {"source_kind": "owner"}, "profile": "strong"},
            {
                "match": {"platform": "discord", "source_kind": "stranger"},
                "profile": "compliant",
                "overrides": {"temperature": 0.0, "description": ""},
            },
            {"match": {"platform": ["slack", "teams"]}, "profile": "work"},
            {"match": {"tokens": {"$gte": 1000, "$lt": 100000}}, "profile": "long"},
            {"match": {"user": {"$regex": "^admin-"}}, "profile": "strong"},
            {"match": {"$or": [{"tier": "gold"}, {"tier": {"$in": ["platinum"]}}]}, "profile": "premium"},
            {"match": {"beta": {"$exists": False}, "lang": {"$nin": ["en"]}}, "profile": "multilingual"},
        ],
        "platforms": {"telegram": "chatty", "discord": {"profile": "gamer", "overrides": {"max_tokens": 200}}},
        "by_source": {"bot": "cheap"},
    }
)


@pytest.mark.parametrize(
    ("context", "profile", "route"),
    [
        ({"source_kind": "owner", "platform": "discord"}, "strong", "routes[0]"),
        ({"platform": "discord", "source_kind": "stranger"}, "compliant", "routes[1]"),
        ({"platform": "teams"}, "work", "routes[2]"),
        ({"tokens": 5000}, "long", "routes[3]"),
        ({"tokens": 10}, "fast", None),
        ({"tokens": "many"}, "fast", None),  # a type mismatch is no match, not an error
        ({"user": "admin-7"}, "strong", "routes[4]"),
        ({"tier": "platinum"}, "premium", "routes[5]"),
        ({"lang": "de"}, "multilingual", "routes[6]"),
        ({"lang": "de", "beta": True}, "fast", None),
        ({"platform": "telegram"}, "chatty", "platforms.telegram"),
        ({"platform": "discord", "source_kind": "friend"}, "gamer", "platforms.discord"),
        ({"source_kind": "bot"}, "cheap", "by_source.bot"),
        ({}, "fast", None),
    ],
)
def test_the_first_matching_route_chooses_the_profile(context: dict[str, Any], profile: str, route: str | None) -> None:
    decision = ROUTER.select(context)
    assert (decision.profile, decision.route, decision.router) == (profile, route, "match")


def test_a_missing_context_key_is_no_match_even_for_ne() -> None:
    router = MatchRouter("base", [{"match": {"platform": {"$ne": "discord"}}, "profile": "other"}])
    assert router.select({}).profile == "base"
    assert router.select({"platform": "slack"}).profile == "other"


def test_explicit_routes_win_over_shorthand_ones() -> None:
    assert ROUTER.select({"platform": "discord", "source_kind": "stranger"}).profile == "compliant"


def test_overrides_are_partial_and_empty_values_never_overwrite() -> None:
    decision = ROUTER.select({"platform": "discord", "source_kind": "stranger"})
    assert decision.overrides == {"temperature": 0.0}


def test_a_route_may_replace_the_fallback_table() -> None:
    router = MatchRouter("base", [{"match": {"x": 1}, "profile": "p", "fallbacks": {"*": ["q"]}}])
    assert router.select({"x": 1}).fallbacks == {"*": ["q"]}
    assert router.select({"x": 2}).fallbacks is None


@pytest.mark.parametrize(
    ("routes", "where", "text"),
    [
        ([{"match": {"x": {"$like": 1}}, "profile": "p"}], "routes[0].match.x", "unknown operator $like"),
        ([{"match": {"x": {"$regex": "("}}, "profile": "p"}], "routes[0].match.x", "bad $regex"),
        ([{"match": {"x": {"$in": "abc"}}, "profile": "p"}], "routes[0].match.x", "$in takes a non-empty list"),
        ([{"match": {"$xor": []}, "profile": "p"}], "routes[0].match", "unknown operator $xor"),
        ([{"match": {"x": {"nested": 1}}, "profile": "p"}], "routes[0].match.x", "use $eq"),
        ([{"match": {}, "profile": "not a name"}], "routes[0].profile", "not a profile name"),
        ([{"match": {}}], "routes[0]", "no profile"),
        ([{"match": {}, "profile": "p", "prof": 1}], "routes[0]", "unknown key(s) prof"),
        ([{"match": {}, "profile": "p", "overrides": {"model": "x", "name": "y"}}], "routes[0].overrides", "name"),
        ([{"match": {}, "profile": "p", "overrides": {"temperature": 9}}], "routes[0].overrides.temperature", "2"),
        ([{"match": {}, "profile": "p", "fallbacks": {"*": "q"}}], "routes[0].fallbacks.*", "must be a list"),
    ],
)
def test_invalid_routes_fail_at_load_naming_the_route(routes: list[dict[str, Any]], where: str, text: str) -> None:
    with pytest.raises(RouteConfigError) as caught:
        MatchRouter("base", routes)
    assert caught.value.where == where
    assert text in str(caught.value)


def test_a_routes_file_is_found_on_the_search_path_and_errors_name_it(
    profiles_dir: Path, write_profile: WriteProfile
) -> None:
    (profiles_dir / "routes.toml").write_text(
        'default = "fast"\n[[routes]]\nmatch = { platform = "discord" }\nprofile = "gamer"\n'
    )
    write_profile("fast", model="openai/fast")
    with pytest.raises(RouteConfigError) as missing:
        MatchRouter.find(ProfileStore([profiles_dir]))
    assert "routes.toml: routes[0].profile: no profile named 'gamer'" in str(missing.value)

    write_profile("gamer", model="openai/gamer", temperature="hot")
    router = MatchRouter.find(ProfileStore([profiles_dir]))
    assert router is not None and router.select({"platform": "discord"}).profile == "gamer"
    assert router.profiles() == ["fast", "gamer"]
    problems = router.check(ProfileStore([profiles_dir]))
    assert len(problems) == 1 and "routes[0].profile names profile 'gamer', which does not load" in problems[0]

    broken = profiles_dir / "broken.toml"
    broken.write_text('default = "fast"\n[[routes]]\nmatch = { x = { "$bad" = 1 } }\nprofile = "p"\n')
    with pytest.raises(RouteConfigError) as caught:
        MatchRouter.from_file(broken)
    assert str(broken) in str(caught.value) and "routes[0].match.x" in str(caught.value)


def test_a_routes_file_needs_a_default(tmp_path: Path) -> None:
    path = tmp_path / "routes.json"
    path.write_text('{"routes": []}')
    with pytest.raises(RouteConfigError, match="no default"):
        MatchRouter.from_file(path)


@pytest.mark.parametrize(
    ("condition", "value", "matches"),
    [
        (True, 1, False),  # a flag is not a count, though True == 1 in Python
        (1, True, False),
        ({"$gt": 0}, True, False),
        ({"$ne": True}, 1, True),
        ({"$regex": "^1"}, 123, False),  # $regex reads strings only
        ({"$regex": "^1"}, "123", True),
        ([1, 2], 2, True),
        ([True], 1, False),
    ],
)
def test_matching_is_strict_about_types(condition: Any, value: Any, matches: bool) -> None:
    router = MatchRouter("base", [{"match": {"x": condition}, "profile": "hit"}])
    assert (router.select({"x": value}).profile == "hit") is matches


@pytest.mark.parametrize(
    ("match", "text"),
    [
        ({"$and": []}, "non-empty list"),
        ({"x": {}}, "empty table matches nothing"),
        ({"x": [{"$gt": 5}]}, "for operators use a table"),
        ({"x": {"$or": [{"y": 1}]}}, "beside the keys"),
    ],
)
def test_ambiguous_match_tables_are_refused_at_load(match: dict[str, Any], text: str) -> None:
    with pytest.raises(RouteConfigError, match=text):
        MatchRouter("base", [{"match": match, "profile": "p"}])


def test_route_fallbacks_name_registered_exceptions_only() -> None:
    with pytest.raises(RouteConfigError) as caught:
        MatchRouter("base", [{"match": {}, "profile": "p", "fallbacks": {"RateLimitEror": ["q"]}}])
    assert caught.value.where == "routes[0].fallbacks.RateLimitEror" and "RateLimitError" in str(caught.value)


def test_overrides_are_coerced_nested_empties_dropped_and_keys_refused() -> None:
    router = MatchRouter(
        "base",
        [{"match": {}, "profile": "p", "overrides": {"timeout": "30", "params": {"top_p": 0.5, "seed": ""}}}],
    )
    assert router.select({}).overrides == {"timeout": 30.0, "params": {"top_p": 0.5}}
    with pytest.raises(RouteConfigError, match="api_key cannot be overridden"):
        MatchRouter("base", [{"match": {}, "profile": "p", "overrides": {"api_key": "sk-x"}}])


@pytest.mark.parametrize("body", [5, ["strong"]])
def test_a_malformed_shorthand_is_a_route_error_not_a_crash(body: object) -> None:
    with pytest.raises(RouteConfigError, match=r"platforms\.discord"):
        MatchRouter.from_dict({"default": "base", "platforms": {"discord": body}})
