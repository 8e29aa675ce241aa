"""Policy files: TOML on top of the default, actions, thresholds, custom terms, and clear errors."""

from __future__ import annotations

import pytest

from safety import PolicyError, PromptFilter, load_policy
from safety.policy import default_policy

POLICY = """
version = 1

[filter]
allow_terms = ["widget museum"]

[categories.violence]
action = "allow"

[categories.weapons_drugs]
threshold = 0.9

[categories.custom]
block_terms = ["widget*", "{acme|zenith} rocket"]
allow_terms = ["acme rocket replica"]
message = "This deployment does not draw our competitors' products."
"""


@pytest.fixture(scope="module")
def custom(tmp_path_factory) -> PromptFilter:
    path = tmp_path_factory.mktemp("policy") / "policy.toml"
    path.write_text(POLICY, encoding="utf-8")
    return PromptFilter(path, semantic=False)


def test_a_policy_file_changes_only_what_it_lists(custom):
    policy, default = custom.policy, default_policy()
    assert policy.category("weapons_drugs").threshold == 0.9
    assert policy.category("violence").action == "allow"
    assert policy.category("sexual") == default.category("sexual")
    assert policy.source.endswith("policy.toml")


def test_an_allowed_category_is_named_but_not_refused(custom):
    verdict = custom.check("a decapitated body in a pool of blood")
    assert verdict.allowed and verdict.category == "violence" and verdict.layer == "policy"


def test_custom_block_terms_refuse_with_the_policy_message(custom):
    for prompt in ("a shelf of widgets", "the acme rocket on a launch pad", "a zenith rocket"):
        verdict = custom.check(prompt)
        assert (verdict.allowed, verdict.category, verdict.layer) == (False, "custom", "policy"), prompt
        assert verdict.message == "This deployment does not draw our competitors' products."


def test_allow_terms_cover_policy_and_builtin_terms(custom):
    assert custom.check("an acme rocket replica in a toy shop").allowed
    assert custom.check("a widget museum in the old town").allowed


def test_the_default_filter_knows_nothing_of_custom_terms():
    assert PromptFilter(semantic=False).check("a shelf of widgets").allowed


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("version = 2", "'version' must be 1"),
        ("[categories.violence]\ntreshold = 0.4", "unknown key 'categories.violence.treshold'"),
        ("[categories.gore]\naction = 'block'", "unknown category 'categories.gore'"),
        ("[categories.violence]\naction = 'warn'", "'categories.violence.action' must be one of"),
        (
            "[categories.violence]\nthreshold = 1.5",
            "'categories.violence.threshold' must be a number from 0 to 1",
        ),
        ("[categories.violence]\nthreshold = true", "'categories.violence.threshold' must be a number"),
        (
            "[categories.custom]\nblock_terms = 'acme'",
            "'categories.custom.block_terms' must be a list of strings",
        ),
        ("[categories.custom]\nblock_terms = ['']", "must be a list of non-empty strings"),
        ("[filter]\nsemantic = 'yes'", "'filter.semantic' must be true/false"),
        ("categories = 3", "'categories' must be a table"),
        ("[categories\nviolence", "not valid TOML"),
    ],
)
def test_a_bad_policy_file_names_the_file_and_the_key(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PolicyError, match=r"bad\.toml") as error:
        load_policy(path)
    assert message in str(error.value)


def test_a_missing_policy_file_is_a_policy_error(tmp_path):
    with pytest.raises(PolicyError, match="policy file not found"):
        PromptFilter(tmp_path / "absent.toml")


def test_the_shipped_default_policy_parses():
    policy = load_policy(default_policy().source)
    assert all(policy.blocks(name) for name in policy.categories)
