"""Prompt files: each format read into typed lines; a bad line is reported with its number and skipped."""

from __future__ import annotations

import pytest

from cascade.render import InputError, PromptLine, read_prompts
from tests.render.render_helpers import write_lines


def test_txt_has_one_prompt_a_line_numbered_as_an_editor_numbers_them(tmp_path):
    path = tmp_path / "p.txt"
    path.write_bytes(b"a red star\r\n\n  two blue rings  \n\xe2\x80\xa8\nthe end")
    lines, bad = read_prompts(path)
    assert [(x.line, x.id, x.prompt) for x in lines] == [
        (1, "1", "a red star"),
        (3, "3", "two blue rings"),
        (5, "5", "the end"),
    ]
    assert bad == []


def test_jsonl_lines_carry_their_own_id_seed_count_size_steps_guidance_and_negative_prompt(tmp_path):
    path = write_lines(
        tmp_path / "p.jsonl",
        [
            {"prompt": "a red star"},
            {"prompt": "a ring", "id": "ring-1", "seed": 5, "n": 2, "size": 32, "steps": [3, 2]},
            {"prompt": "a heart", "id": 7, "guidance": 3, "negative_prompt": "blue"},
        ],
    )
    lines, bad = read_prompts(path)
    assert bad == []
    assert lines == [
        PromptLine(1, "1", "a red star"),
        PromptLine(2, "ring-1", "a ring", seed=5, n=2, size=32, steps=(3, 2)),
        PromptLine(3, "7", "a heart", guidance=3.0, negative_prompt="blue"),
    ]


def test_csv_has_the_jsonl_columns_with_empty_cells_meaning_not_given(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text(
        "id,prompt,seed,n,size,steps,guidance,negative_prompt\n"
        "a,a red star,,,,,,\n"
        'b,"a ring, blue",5,2,32,"3,2",4.5,green\n'
        'c,"two\nlines",,,,,,\n'
        "d,after the quoted newline,,,,,,\n"
    )
    lines, bad = read_prompts(path)
    assert bad == []
    assert lines == [
        PromptLine(2, "a", "a red star"),
        PromptLine(
            3, "b", "a ring, blue", seed=5, n=2, size=32, steps=(3, 2), guidance=4.5, negative_prompt="green"
        ),
        PromptLine(4, "c", "two\nlines"),
        PromptLine(6, "d", "after the quoted newline"),
    ]


def test_a_size_is_a_side_a_width_x_height_or_a_pair_in_every_format(tmp_path):
    jsonl = write_lines(
        tmp_path / "p.jsonl",
        [{"prompt": "a", "size": "48x32"}, {"prompt": "b", "size": [32, 48]}, {"prompt": "c", "size": "32"}],
    )
    csv = tmp_path / "p.csv"
    csv.write_text("prompt,size\na,48x32\nb, 64 \nc,48by32\n")
    assert [line.size for line in read_prompts(jsonl)[0]] == [(48, 32), (32, 48), 32]
    lines, bad = read_prompts(csv)
    assert [line.size for line in lines] == [(48, 32), 64]
    assert len(bad) == 1 and "size: must be N or WxH" in bad[0].message


def test_malformed_lines_are_reported_with_their_line_number_and_the_other_lines_are_read(tmp_path):
    path = write_lines(
        tmp_path / "p.jsonl",
        [
            {"prompt": "fine"},
            '{"prompt": "unterminated',
            "[1, 2]",
            {"seed": 3},
            {"prompt": "x", "seed": "3"},
            {"prompt": "x", "sead": 3},
            {"prompt": "x", "id": "../escape"},
            {"prompt": "x", "id": "1"},
            {"prompt": "x", "steps": [2, "2"]},
            {"prompt": 5},
            {"prompt": "also fine", "n": 2},
        ],
    )
    lines, bad = read_prompts(path)
    assert [x.line for x in lines] == [1, 11]
    messages = {b.line: b.message for b in bad}
    assert sorted(messages) == list(range(2, 11))
    assert messages[2].startswith("not valid JSON")
    assert messages[3].startswith("expected a JSON object")
    assert messages[4] == "prompt: missing"
    assert messages[5].startswith("seed: must be an integer")
    assert "sead" in messages[6]
    assert messages[7].startswith("id: ")
    assert messages[8] == "id: '1' is already used by line 1"
    assert messages[9].startswith("steps: ")
    assert messages[10].startswith("prompt: must be a string")


def test_a_bad_csv_cell_skips_only_its_row(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("prompt,seed\na red star,1\na ring,one\na heart,3,extra\na cross,4\n")
    lines, bad = read_prompts(path)
    assert [(x.line, x.seed) for x in lines] == [(2, 1), (5, 4)]
    assert [(b.line, b.message) for b in bad] == [
        (3, "seed: expected a number, got 'one'"),
        (4, "expected 2 cells, got 3"),
    ]


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("p.csv", "text,seed\na,1\n"),
        ("p.csv", "prompt,sead\na,1\n"),
        ("p.yaml", "- a\n"),
        ("missing.txt", None),
    ],
)
def test_a_file_that_cannot_be_read_as_a_whole_is_an_input_error(tmp_path, name, content):
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    with pytest.raises(InputError, match=name):
        read_prompts(path)


def test_lines_json_cannot_parse_or_numbers_cannot_hold_are_skipped_alone(tmp_path):
    path = write_lines(
        tmp_path / "p.jsonl",
        [
            '{"prompt": ' + "[" * 5000 + "]" * 5000 + "}",  # RecursionError in json
            '{"prompt": "x", "seed": ' + "9" * 5000 + "}",  # past int("...")'s 4300-digit limit
            '{"prompt": "x", "guidance": ' + "9" * 400 + "}",  # too large for a float
            {"prompt": "fine"},
        ],
    )
    lines, bad = read_prompts(path)
    assert [x.line for x in lines] == [4]
    messages = {b.line: b.message for b in bad}
    assert messages[1] == "not valid JSON: nested too deeply"
    assert messages[2].startswith("not valid JSON: Exceeds the limit (4300 digits) for integer")
    assert messages[3] == "guidance: must be a finite number, got an integer too large for one"


def test_an_error_no_check_foresaw_skips_its_line_and_names_the_error(tmp_path, monkeypatch):
    from cascade.render import inputs

    real = inputs._typed_line

    def typed_line(number, fields):
        if fields["prompt"] == "boom":
            raise KeyError("surprise")
        return real(number, fields)

    monkeypatch.setattr(inputs, "_typed_line", typed_line)
    lines, bad = read_prompts(write_lines(tmp_path / "p.txt", ["fine", "boom", "also fine"]))
    assert [x.line for x in lines] == [1, 3]
    assert bad == [inputs.BadLine(2, "cannot be read (KeyError: 'surprise')")]


def test_text_a_tokenizer_cannot_take_or_that_shows_nothing_skips_its_line(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_bytes(
        b'{"prompt": "\\ud800 star"}\n'  # a lone surrogate
        b'{"prompt": "a ring", "negative_prompt": "\\udfff"}\n'
        b'{"prompt": "\\u200b\\u200b"}\n'  # zero-width spaces only
        b'{"prompt": "bad \xff byte"}\n'  # not UTF-8: read as a surrogate escape
        b'{"prompt": "fine", "negative_prompt": ""}\n'
    )
    lines, bad = read_prompts(path)
    assert [x.line for x in lines] == [5]
    messages = {b.line: b.message for b in bad}
    assert messages[1].startswith("prompt: is not valid Unicode text")
    assert messages[2].startswith("negative_prompt: is not valid Unicode text")
    assert messages[3].startswith("prompt: must not be empty")
    assert messages[4].startswith("prompt: is not valid Unicode text")
