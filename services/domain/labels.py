"""What a page calls a call's kind and level (zh-CN first), in every channel's text and on
the one-tap answer page."""

from __future__ import annotations

LEVEL_TEXT = {"building": "楼栋", "district": "片区", "community": "社区", "professional": "专业救援"}
KIND_TEXT = {
    "flood": "水浸 flood",
    "fire": "火警 fire",
    "medical": "急救 medical",
    "elderly_missing": "老人走失 elderly_missing",
    "dispute": "纠纷 dispute",
    "other": "求助 other",
}
