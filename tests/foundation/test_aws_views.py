"""Unit tests of the small helpers the foundation tests compare AWS answers with."""

from __future__ import annotations

from tests.foundation.aws_views import grants, sg_rules, tcp, wildcard_statements


def test_sg_rules_flattens_every_kind_of_target() -> None:
    perms = [
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "10.0.0.0/16"}],
         "UserIdGroupPairs": [{"GroupId": "sg-1"}], "PrefixListIds": [{"PrefixListId": "pl-1"}]},
        {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
    ]
    assert sg_rules(perms) == {
        tcp(443, "cidr", "10.0.0.0/16"), tcp(443, "group", "sg-1"), tcp(443, "prefix-list", "pl-1"),
        ("-1", None, None, "cidr", "0.0.0.0/0"),
    }


def test_grants_and_wildcards() -> None:
    doc = {"Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/events/*"},
        {"Effect": "Allow", "Action": ["s3:*"], "Resource": ["arn:aws:s3:::b"]},
        {"Effect": "Deny", "Action": "*", "Resource": "*"},
    ]}
    assert grants(doc)["s3:GetObject"] == {"arn:aws:s3:::b/events/*"}
    assert [s["Action"] for s in wildcard_statements(doc)] == [["s3:*"]]
