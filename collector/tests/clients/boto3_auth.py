"""SigV4 against a collector started with --auth-keys: the right key works, a wrong secret, an
unknown key and an unsigned request each get AWS's error.

Usage: python boto3_auth.py ENDPOINT ACCESS_KEY SECRET
"""

import json
import sys
import urllib.error
import urllib.request

import boto3
import botocore.config
from botocore.exceptions import ClientError

ENDPOINT, KEY, SECRET = sys.argv[1:4]


def client(key, secret):
    return boto3.client(
        "xray",
        endpoint_url=ENDPOINT,
        region_name="eu-west-1",
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=botocore.config.Config(retries={"max_attempts": 1}),
    )


def code_of(fn):
    try:
        fn()
    except ClientError as e:
        return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]
    return None, 200


rules = client(KEY, SECRET).get_sampling_rules()["SamplingRuleRecords"]
assert rules, rules
print("ok signed request accepted", flush=True)

assert code_of(lambda: client(KEY, "wrong").get_sampling_rules()) == ("InvalidSignatureException", 403)
print("ok wrong secret refused", flush=True)

assert code_of(lambda: client("AKIDUNKNOWN", SECRET).get_sampling_rules()) == ("UnrecognizedClientException", 403)
print("ok unknown key refused", flush=True)

req = urllib.request.Request(ENDPOINT + "/GetSamplingRules", data=b"{}", method="POST")
try:
    urllib.request.urlopen(req)
    raise AssertionError("unsigned request accepted")
except urllib.error.HTTPError as e:
    assert e.code == 403, e.code
    assert json.loads(e.read())["__type"] == "MissingAuthenticationTokenException"
print("ok unsigned request refused", flush=True)
