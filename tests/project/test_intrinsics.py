"""CloudFormation's intrinsic functions resolved locally."""

from __future__ import annotations

from typing import Any

import pytest

from wsgate.exceptions import ConfigError
from wsgate.project.intrinsics import NO_VALUE, Resolver, Stack


RESOURCES: dict[str, Any] = {
    "Api": {"Type": "AWS::ApiGatewayV2::Api", "Properties": {"Name": "chat"}},
    "Fn": {"Type": "AWS::Serverless::Function", "Properties": {}},
    "Named": {"Type": "AWS::Lambda::Function", "Properties": {"FunctionName": "real-name"}},
    "Table": {"Type": "AWS::DynamoDB::Table", "Properties": {}},
    "NamedTable": {"Type": "AWS::DynamoDB::Table", "Properties": {"TableName": {"Ref": "Env"}}},
    "Stage": {"Type": "AWS::ApiGatewayV2::Stage", "Properties": {"StageName": "prod"}},
    "Queue": {"Type": "AWS::SQS::Queue", "Properties": {}},
}


def resolver(**changes: Any) -> Resolver:
    stack = Stack(
        source="t.yaml",
        root="Resources",
        resources=RESOURCES,
        parameters={"Env": "dev", "Zones": ["a", "b"]},
        conditions={
            "IsDev": {"Fn::Equals": [{"Ref": "Env"}, "dev"]},
            "IsProd": {"Fn::Not": [{"Condition": "IsDev"}]},
            "Both": {"Fn::And": [{"Condition": "IsDev"}, {"Condition": "IsProd"}]},
            "Either": {"Fn::Or": [{"Condition": "IsDev"}, {"Condition": "IsProd"}]},
            "Loop": {"Condition": "Loop"},
        },
        mappings={"Sizes": {"dev": {"Memory": 256}}},
        pseudo={"AWS::Region": "eu-west-1", "AWS::AccountId": "123456789012"},
        api_ids={"Api": "abcdefghij"},
    )
    for name, value in changes.items():
        setattr(stack, name, value)
    return Resolver(stack)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"Ref": "Env"}, "dev"),
        ({"Ref": "AWS::Region"}, "eu-west-1"),
        ({"Ref": "Api"}, "abcdefghij"),
        ({"Ref": "Fn"}, "Fn"),
        ({"Ref": "Named"}, "real-name"),
        ({"Ref": "Table"}, "Table"),
        ({"Ref": "NamedTable"}, "dev"),
        ({"Ref": "Stage"}, "prod"),
        ({"Fn::GetAtt": ["Fn", "Arn"]}, "arn:aws:lambda:eu-west-1:123456789012:function:Fn"),
        ({"Fn::GetAtt": ["Table", "Arn"]}, "arn:aws:dynamodb:eu-west-1:123456789012:table/Table"),
        ({"Fn::GetAtt": "Api.ApiEndpoint"}, "wss://abcdefghij.execute-api.eu-west-1.amazonaws.com"),
        (
            {"Fn::Sub": "${Api}/${Env}/${Fn.Arn}"},
            "abcdefghij/dev/arn:aws:lambda:eu-west-1:123456789012:function:Fn",
        ),
        ({"Fn::Sub": ["${X}-${AWS::AccountId}", {"X": {"Ref": "Env"}}]}, "dev-123456789012"),
        ({"Fn::Sub": "${!Literal}"}, "${Literal}"),
        ({"Fn::Join": ["/", ["integrations", {"Ref": "Env"}]]}, "integrations/dev"),
        ({"Fn::Select": [1, {"Ref": "Zones"}]}, "b"),
        ({"Fn::Select": ["0", {"Fn::Split": [",", "x,y"]}]}, "x"),
        ({"Fn::If": ["IsDev", "yes", "no"]}, "yes"),
        ({"Fn::If": ["IsProd", "yes", "no"]}, "no"),
        ({"Fn::If": ["Both", "yes", "no"]}, "no"),
        ({"Fn::If": ["Either", "yes", "no"]}, "yes"),
        ({"Fn::FindInMap": ["Sizes", {"Ref": "Env"}, "Memory"]}, 256),
        ({"Fn::GetAZs": ""}, ["eu-west-1a", "eu-west-1b", "eu-west-1c"]),
        ({"Fn::Base64": "hi"}, "aGk="),
        ({"a": {"Ref": "AWS::NoValue"}, "b": 1}, {"b": 1}),
    ],
)
def test_intrinsic_values(value: object, expected: object) -> None:
    """Each intrinsic resolves as CloudFormation would for a local stack."""
    assert resolver().resolve(value, "Resources.X.Properties.Y") == expected


def test_no_value_alone() -> None:
    """AWS::NoValue is the marker that removes its key."""
    assert resolver().resolve({"Ref": "AWS::NoValue"}, "k") is NO_VALUE


def test_physical_name_override() -> None:
    """A resource wsgate does not run may be given its real name."""
    assert resolver(physical_names={"Table": "prod-table"}).resolve({"Ref": "Table"}, "k") == (
        "prod-table"
    )


def test_unknown_attribute_is_named_and_kept() -> None:
    """A GetAtt without a local value is reported and stays readable."""
    seen: list[tuple[str, str]] = []
    r = resolver(unresolved=lambda key, message: seen.append((key, message)))
    assert r.resolve({"Fn::GetAtt": ["Queue", "QueueUrl"]}, "k") == "Queue.QueueUrl"
    assert r.resolve({"Fn::GetAtt": ["Queue", "Arn"]}, "k") == (
        "arn:aws:sqs:eu-west-1:123456789012:Queue"
    )
    assert seen and seen[0][0] == "k.Fn::GetAtt"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"Ref": "Nope"}, r"k\.Ref: unknown parameter or resource 'Nope'"),
        ({"Fn::ImportValue": "x"}, r"k\.Fn::ImportValue: .*needs AWS"),
        ({"Fn::Transform": {}}, r"k\.Fn::Transform: unsupported intrinsic function"),
        ({"Fn::If": ["Nope", 1, 2]}, r"unknown condition 'Nope'"),
        ({"Fn::If": ["Loop", 1, 2]}, r"condition 'Loop' refers to itself"),
        ({"Fn::Select": [5, ["a"]]}, r"index 5 is outside"),
        ({"Fn::Join": ["/", "notalist"]}, r"expected a list of values to join"),
    ],
)
def test_errors_name_the_key(value: object, message: str) -> None:
    """What cannot be resolved stops start-up, naming the file and the key."""
    with pytest.raises(ConfigError, match=r"^t\.yaml: .*" + message):
        resolver().resolve(value, "k")
