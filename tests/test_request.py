import numpy as np
import pytest

from wenchuang.errors import RequestError
from wenchuang.request import DesignRequest, DesignResult, LineReading, TextLine, parse_size

BOX = [(10, 10), (200, 10), (200, 60), (10, 60)]


def test_valid_generate_request_roundtrips_through_dict():
    req = DesignRequest(
        prompt="a bookmark", lines=[TextLine("天路", BOX, color="#aa0000")], seed=7
    ).validate()
    again = DesignRequest.from_dict(req.to_dict()).validate()
    assert again.to_dict() == req.to_dict()
    assert again.lines[0].polygon == [(10.0, 10.0), (200.0, 10.0), (200.0, 60.0), (10.0, 60.0)]


@pytest.mark.parametrize(
    ("kwargs", "field", "needle"),
    [
        ({"lines": [TextLine("  ")]}, "lines[0].text", "empty"),
        ({"lines": [TextLine("x" * 21)]}, "lines[0].text", "at most 20"),
        ({"lines": [TextLine(f"l{i}") for i in range(9)]}, "lines", "at most 8"),
        ({"width": 500}, "width", "multiple of 64"),
        ({"height": 1024}, "height", "between 256 and 768"),
        ({"image_count": 13}, "image_count", "between 1 and 12"),
        ({"steps": 0}, "steps", "between 1 and 100"),
        ({"guidance_scale": 31.0}, "guidance_scale", "between"),
        ({"strength": -0.5}, "strength", "between"),
        ({"seed": 2**40}, "seed", "between"),
        ({"lines": [TextLine("a", [(0, 0), (600, 0), (600, 50), (0, 50)])]}, "lines[0].polygon", "outside"),
        ({"lines": [TextLine("a", [(0, 0), (100, 0), (100, 1), (0, 1)])]}, "lines[0].polygon", "degenerate"),
        ({"lines": [TextLine("a", [(0, 0), (100, 0), (100, 100)])]}, "lines[0].polygon", "at least 4"),
        ({"lines": [TextLine("a", BOX, color="red")]}, "lines[0].color", "#RRGGBB"),
        ({"sort_priority": "random"}, "sort_priority", "top-down"),
        ({"mode": "paint"}, "mode", "generate"),
    ],
)
def test_each_violation_names_its_field(kwargs, field, needle):
    base = {"prompt": "p", "lines": [TextLine("ok", BOX)]}
    base.update(kwargs)
    with pytest.raises(RequestError) as info:
        DesignRequest(**base).validate()
    assert info.value.field == field
    assert needle in str(info.value)


def test_edit_needs_an_image_and_something_to_do():
    with pytest.raises(RequestError, match="image"):
        DesignRequest(mode="edit", lines=[TextLine("a", BOX)]).validate()
    img = np.zeros((100, 300, 3), np.uint8)
    with pytest.raises(RequestError, match="nothing to edit"):
        DesignRequest(mode="edit", image=img).validate()
    DesignRequest(mode="edit", image=img, remove_all_text=True).validate()
    with pytest.raises(RequestError, match="mask"):
        DesignRequest(mode="edit", image=img, mask=np.zeros((10, 10), np.uint8)).validate()


def test_parse_size():
    assert parse_size("512x768") == (512, 768)
    assert parse_size(" 256 X 256 ") == (256, 256)
    for bad in ("512", "axb", "100x512", "512x-64"):
        with pytest.raises(RequestError):
            parse_size(bad)


def test_seeds_are_consecutive_and_random_when_unset():
    assert DesignRequest(seed=41, image_count=3).resolved_seeds() == [41, 42, 43]
    seeds = DesignRequest(seed=-1, image_count=2).resolved_seeds()
    assert seeds[1] == seeds[0] + 1 and seeds[0] >= 0


def test_unknown_fields_rejected():
    with pytest.raises(RequestError, match="unknown"):
        DesignRequest.from_dict({"prompt": "x", "colour": "red"})
    with pytest.raises(RequestError, match="unknown"):
        DesignRequest.from_dict({"lines": [{"text": "a", "size": 3}]})


def test_result_metadata_is_json_safe():
    import json

    req = DesignRequest(prompt="p", lines=[TextLine("天路", BOX)], seed=3).validate()
    res = DesignResult(
        images=[np.zeros((512, 512, 3), np.uint8)],
        seeds=[3],
        request=req,
        engine="classic",
        readings=[[LineReading("天路", "天路", 0.99, True)]],
    )
    meta = json.loads(json.dumps(res.metadata(0)))
    assert meta["seed"] == 3 and meta["readings"][0]["read"] == "天路" and meta["size"] == [512, 512]
    assert res.all_lines_passed
