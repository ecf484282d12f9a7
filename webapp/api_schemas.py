"""JSON Schemas of the objects the ``/api/v1`` API sends and accepts (OpenAPI 3.1,
i.e. JSON Schema 2020-12: nullable fields are ``["type", "null"]``); used by
:mod:`webapp.openapi`.
"""

from __future__ import annotations

from typing import Any

from review.shapes import KINDS, MAX_POINTS, MAX_SHAPES, PALETTE

Schema = dict[str, Any]


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(required: tuple[str, ...] = (), **props: Schema) -> Schema:
    schema: Schema = {"type": "object", "properties": props}
    if required:
        schema["required"] = list(required)
    return schema


def array(items: Schema) -> Schema:
    return {"type": "array", "items": items}


STR: Schema = {"type": "string"}
INT: Schema = {"type": "integer"}
BOOL: Schema = {"type": "boolean"}
NUM: Schema = {"type": "number"}
MS: Schema = {"type": "integer", "minimum": 0, "description": "milliseconds"}
OPT_STR: Schema = {"type": ["string", "null"]}
OPT_INT: Schema = {"type": ["integer", "null"]}
OPT_NUM: Schema = {"type": ["number", "null"]}
STAMP: Schema = {"type": "string", "format": "date-time"}


def schemas() -> dict[str, Schema]:
    code = obj(id=STR, label=STR, colour=OPT_STR, retired={"type": ["boolean", "null"]})
    return {
        "Error": obj(("error",), error=obj(("code", "message"), code=STR, message=STR)),
        "Clip": obj(
            ("id", "kind", "status", "links"),
            id=STR,
            kind=STR,
            kind_label=STR,
            family_code=STR,
            title=STR,
            status=STR,
            status_label=STR,
            refused=BOOL,
            in_progress=BOOL,
            stage=STR,
            progress=INT,
            failure_reason=OPT_STR,
            created_at=STAMP,
            updated_at=STAMP,
            delete_after={"type": ["string", "null"], "format": "date-time"},
            days_left=OPT_INT,
            legal_hold=BOOL,
            media=obj(duration_ms=OPT_INT, width=OPT_INT, height=OPT_INT, frame_rate=OPT_STR),
            links={"type": "object", "additionalProperties": STR},
        ),
        "AnnotationInput": obj(
            start_ms=MS,
            end_ms={"type": ["integer", "null"], "minimum": 0},
            subject={"enum": ["infant", "parent", "facilitator", "group"]},
            scheme_id=OPT_STR,
            codes=array(STR),
            text=STR,
            visibility={"enum": ["shared", "draft"]},
            shapes=array(ref("Shape")),
            revision={"type": "integer", "description": "PATCH: the revision displayed"},
        ),
        "Annotation": obj(
            ("id", "clip_id", "start_ms", "subject", "codes", "revision"),
            id=STR,
            clip_id=STR,
            start_ms=MS,
            end_ms=OPT_INT,
            start_frame=OPT_INT,
            end_frame=OPT_INT,
            subject=STR,
            scheme_id=OPT_STR,
            scheme_version=OPT_STR,
            codes=array(code),
            text=STR,
            shapes=array(ref("Shape")),
            visibility=STR,
            resolved=BOOL,
            author_id=STR,
            author=STR,
            author_role=STR,
            revision=INT,
            created_at=STAMP,
            updated_at=STAMP,
            replies=array(ref("Reply")),
            links=array(ref("Link")),
        ),
        "Shape": {
            **obj(
                ("kind", "points"),
                kind={"enum": list(KINDS)},
                colour={"enum": list(PALETTE)},
                points=array(array(NUM) | {"minItems": 2, "maxItems": 2}) | {"minItems": 2},
            ),
            "description": "Drawn on the frame; x, y from 0 to 1 (left/top); arrow and "
            f"ellipse 2 points, line up to {MAX_POINTS}; at most {MAX_SHAPES} per annotation",
            "additionalProperties": False,
        },
        "Reply": obj(
            ("id", "text"),
            id=STR,
            annotation_id=STR,
            author_id=STR,
            author=STR,
            author_role=STR,
            text=STR,
            created_at=STAMP,
        ),
        "Link": obj(
            ("id", "source_id", "target_id", "relation"),
            id=STR,
            clip_id=STR,
            source_id=STR,
            target_id=STR,
            relation={"enum": ["received", "not-received", "related"]},
            created_by=STR,
            created_at=STAMP,
        ),
        "Moment": obj(
            ("id", "kind", "start_ms", "status"),
            id=STR,
            clip_id=STR,
            kind={"enum": ["moment", "still"]},
            start_ms=MS,
            end_ms=OPT_INT,
            caption=STR,
            position=INT,
            status={"enum": ["pending", "ready", "failed"]},
            links={"type": "object", "additionalProperties": STR},
        ),
        "Scheme": obj(
            ("id", "version", "codes"),
            id=STR,
            version=STR,
            title=STR,
            description=STR,
            applies_to=array(STR),
            subjects=array(STR),
            codes=array(
                obj(
                    id=STR,
                    label=STR,
                    description=STR,
                    key=OPT_STR,
                    colour=STR,
                    group=STR,
                    parent=OPT_STR,
                    retired=BOOL,
                )
            ),
        ),
        "Agreement": obj(
            ("window_ms", "windows", "kappa"),
            window_ms=INT,
            windows=INT,
            codes=array(STR),
            kappa=OPT_NUM,
            percent_agreement=OPT_NUM,
            window_agreement=NUM,
            undefined_reason=OPT_STR,
            definition=STR,
            coder_a=STR,
            coder_b=STR,
            scheme_id=STR,
            level=STR,
            per_code=array(
                obj(
                    code=STR,
                    both=INT,
                    only_a=INT,
                    only_b=INT,
                    neither=INT,
                    kappa=OPT_NUM,
                    percent_agreement=NUM,
                    undefined_reason=OPT_STR,
                )
            ),
            differences=array(
                obj(
                    index=INT,
                    start_ms=MS,
                    end_ms=MS,
                    a=array(STR),
                    b=array(STR),
                    only_a=array(STR),
                    only_b=array(STR),
                )
            ),
            substitutions=array(obj(a=STR, b=STR, windows=INT)),
        ),
        "AnnotationsExport": obj(
            ("format", "version", "clip", "schemes", "annotations", "links"),
            format={"const": "verp-annotations"},
            version=INT,
            clip=obj(id=STR, kind=STR, duration_ms=OPT_INT, frame_rate=OPT_STR),
            schemes=array(obj(id=STR, version=OPT_STR, title=STR)),
            annotations=array({"type": "object"}),
            links=array(obj(id=STR, source_id=STR, target_id=STR, relation=STR)),
        ),
        "SignOff": obj(
            ("signed_off",),
            signed_off=BOOL,
            clip_id=STR,
            supervisor_id=STR,
            supervisor=STR,
            summary=STR,
            signed_at=STAMP,
        ),
    }
