#!/usr/bin/env python3
"""Prints the CloudFormation JSON that SAM's own translator (aws-sam-translator,
samtranslator.translator.transform.transform) makes of a SAM template: Globals merged, policy
templates (SQSSendMessagePolicy, ...) expanded into the roles' policies, Events turned into
AWS::Events::Rule resources, EventInvokeConfig into AWS::Lambda::EventInvokeConfig, and so on.

    python scripts/sam-translate.py template.yaml [--region us-east-1] [--parameter Key=Value ...]

Run it with the python of scripts/install-iam-tools.sh (aws-sam-translator pinned by
scripts/requirements/iam.txt). Offline by construction:
- the region is --region (default us-east-1), given to the translator through AWS_DEFAULT_REGION;
  no AWS profile or credentials are read, and any network connection is refused;
- a local CodeUri (e.g. `./`) or other local artifact path is replaced by the placeholder
  s3://local/code.zip before translating (as cfn-lint does): the translator only accepts S3;
- managed policies are looked up in the map bundled with the translator; a name it does not
  know would make SAM ask IAM, so the script fails instead, naming it (use the policy's ARN).
Resource Metadata is kept on the resources made from a SAM resource (it carries
BuildProperties.Binary). The output is JSON with sorted keys; an invalid template exits 1 with the
translator's error messages, one a line, on stderr.
"""
import argparse
import json
import os
import socket
import sys

PLACEHOLDER = "s3://local/code.zip"
# SAM properties that name a local file or folder that `sam build`/`sam package` would upload.
LOCAL_ARTIFACTS = {
    "AWS::Serverless::Function": ["CodeUri"],
    "AWS::Serverless::LayerVersion": ["ContentUri"],
    "AWS::Serverless::Api": ["DefinitionUri"],
    "AWS::Serverless::HttpApi": ["DefinitionUri"],
    "AWS::Serverless::StateMachine": ["DefinitionUri"],
    "AWS::Serverless::GraphQLApi": ["SchemaUri", "CodeUri"],
}
GLOBALS_SECTION = {
    "AWS::Serverless::Function": "Function",
    "AWS::Serverless::Api": "Api",
    "AWS::Serverless::HttpApi": "HttpApi",
    "AWS::Serverless::StateMachine": "StateMachine",
    "AWS::Serverless::LayerVersion": "LayerVersion",
}


class Failure(Exception):
    def __init__(self, messages):
        super().__init__("\n".join(messages))
        self.messages = list(messages)


def offline():
    """No profile, no credentials, no instance metadata, and no socket may connect."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                 "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        os.environ.pop(name, None)
    os.environ["AWS_CONFIG_FILE"] = os.devnull
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"

    def refuse(*args, **kwargs):
        raise OSError("sam-translate.py is offline: the translator tried to reach the network")

    socket.socket.connect = refuse
    socket.socket.connect_ex = refuse
    socket.create_connection = refuse
    socket.getaddrinfo = refuse


def load_template(path):
    import yaml
    from samtranslator.yaml_helper import intrinsics_multi_constructor

    class Loader(yaml.SafeLoader):
        pass

    # CloudFormation's short forms (!Ref, !GetAtt a.b, !Sub, ...) as their long forms.
    Loader.add_multi_constructor("!", intrinsics_multi_constructor)
    # Dates stay strings (AWSTemplateFormatVersion: 2010-09-09 unquoted), as CloudFormation reads them.
    Loader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    with open(path) as f:
        text = f.read()
    try:
        template = yaml.load(text, Loader=Loader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as e:
        raise Failure([f"{path}: not YAML: {e}"]) from e
    if not isinstance(template, dict):
        raise Failure([f"{path}: not a template (no mapping at the top)"])
    return template


def is_local(value):
    return isinstance(value, str) and not value.startswith("s3://")


def replace_local_artifacts(template):
    """Local artifact paths -> the S3 placeholder; returns how many were replaced."""
    count = 0
    globals_ = template.get("Globals") if isinstance(template.get("Globals"), dict) else {}
    for rtype, section in GLOBALS_SECTION.items():
        props = globals_.get(section)
        if isinstance(props, dict):
            for prop in LOCAL_ARTIFACTS.get(rtype, []):
                if is_local(props.get(prop)):
                    props[prop] = PLACEHOLDER
                    count += 1
    for resource in (template.get("Resources") or {}).values():
        if not isinstance(resource, dict):
            continue
        props = resource.get("Properties")
        if not isinstance(props, dict):
            continue
        for prop in LOCAL_ARTIFACTS.get(resource.get("Type"), []):
            if is_local(props.get(prop)):
                props[prop] = PLACEHOLDER
                count += 1
    return count


def policy_names(template):
    """Policies named by a plain string (neither an ARN nor a policy template) in the template."""
    names = set()
    sections = [template.get("Globals", {}).get(s, {}) for s in ("Function", "StateMachine")]
    sections += [(r or {}).get("Properties") or {} for r in (template.get("Resources") or {}).values()]
    for props in sections:
        policies = props.get("Policies") if isinstance(props, dict) else None
        if isinstance(policies, str):
            policies = [policies]
        for p in policies if isinstance(policies, list) else []:
            if isinstance(p, str) and not p.startswith("arn:"):
                names.add(p)
    return sorted(names)


class ManagedPolicyLookup(Exception):
    pass


class NoIamLoader:
    """The translator calls this only for a managed policy name that is neither an ARN nor in its
    bundled map, where the real transform would list IAM's policies."""

    def load(self):
        raise ManagedPolicyLookup()


def translate(template, parameters):
    from samtranslator.model.exceptions import InvalidDocumentException, ExceptionWithMessage
    from samtranslator.translator.transform import transform

    original_names = policy_names(template)
    try:  # Only to name the culprit in the error below; not part of the translation.
        from samtranslator.internal.managed_policies import get_bundled_managed_policy_map
        from samtranslator.translator.arn_generator import ArnGenerator

        bundled = get_bundled_managed_policy_map(ArnGenerator.get_partition_name()) or {}
        original_names = [n for n in original_names if n not in bundled] or original_names
    except Exception:  # noqa: BLE001 (an internal module of the translator; the message can do without it)
        pass
    try:
        return transform(template, parameters, NoIamLoader(), passthrough_metadata=True)
    except ManagedPolicyLookup:
        raise Failure([
            "the template names a managed policy that aws-sam-translator's bundled map does not know "
            f"(SAM would ask IAM, which this script does not): {', '.join(original_names) or '?'}; "
            "name it by ARN"
        ]) from None
    except InvalidDocumentException as e:
        raise Failure([c.message for c in e.causes] or [e.message]) from e
    except ExceptionWithMessage as e:
        raise Failure([e.message]) from e


def main(argv):
    parser = argparse.ArgumentParser(description="The CloudFormation that SAM's translator makes of a template.")
    parser.add_argument("template")
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--parameter", action="append", default=[], metavar="KEY=VALUE",
                        help="a template parameter's value (repeatable)")
    args = parser.parse_args(argv)
    parameters = {}
    for item in args.parameter:
        key, sep, value = item.partition("=")
        if not sep or not key:
            parser.error(f"--parameter {item!r}: expected KEY=VALUE")
        parameters[key] = value

    offline()
    # Before samtranslator (and boto3) are imported: the translator takes the region, and from it
    # the partition, from boto3's usual resolution.
    os.environ["AWS_DEFAULT_REGION"] = args.region
    os.environ["AWS_REGION"] = args.region

    try:
        template = load_template(args.template)
        replace_local_artifacts(template)
        out = translate(template, parameters)
    except Failure as e:
        for message in e.messages:
            sys.stderr.write(f"{message}\n")
        return 1
    sys.stdout.write(json.dumps(out, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
