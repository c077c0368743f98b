"""The Eucalyptus extensions of the IAM model, as a botocore ``sdk-extras`` file.

botocore merges ``<service>/<version>/service-2.sdk-extras.json`` into the
service model from any directory on its data path; the protocol layer and the
clients we ship (``cloudctl``, tests with ``AWS_DATA_PATH``) put
``cloudctl/models`` first, so CreateAccount, DeleteAccount, ListAccounts and the
``DelegateAccount`` parameter on every IAM call parse and serialize like any
AWS operation. Run ``python -m cloudctl.services.iam.model_extras`` to rewrite
the file after changing this module (a unit test checks they agree).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import botocore.session

EXTRAS_PATH = (Path(__file__).resolve().parent.parent.parent / "models" / "iam" / "2010-05-08"
               / "service-2.sdk-extras.json")

_ACCOUNT_OPS: dict[str, Any] = {
    "CreateAccount": {
        "name": "CreateAccount", "http": {"method": "POST", "requestUri": "/"},
        "input": {"shape": "CreateAccountRequest"},
        "output": {"shape": "CreateAccountResponse", "resultWrapper": "CreateAccountResult"},
        "errors": [{"shape": "EntityAlreadyExistsException"}, {"shape": "LimitExceededException"}],
        "documentation": "<p>Eucalyptus: creates an account with its admin user (cloud admin only).</p>",
    },
    "DeleteAccount": {
        "name": "DeleteAccount", "http": {"method": "POST", "requestUri": "/"},
        "input": {"shape": "DeleteAccountRequest"},
        "errors": [{"shape": "NoSuchEntityException"}, {"shape": "DeleteConflictException"}],
        "documentation": "<p>Eucalyptus: deletes an account; Recursive deletes its resources.</p>",
    },
    "ListAccounts": {
        "name": "ListAccounts", "http": {"method": "POST", "requestUri": "/"},
        "input": {"shape": "ListAccountsRequest"},
        "output": {"shape": "ListAccountsResponse", "resultWrapper": "ListAccountsResult"},
        "documentation": "<p>Eucalyptus: lists every account (cloud admin only).</p>",
    },
}

_ACCOUNT_SHAPES: dict[str, Any] = {
    "eucaAccountNameType": {"type": "string", "max": 63, "min": 1,
                            "pattern": "[\\w+=,.@-]+"},
    "eucaAccountType": {"type": "structure", "required": ["AccountName", "AccountId"],
                        "members": {"AccountName": {"shape": "eucaAccountNameType"},
                                    "AccountId": {"shape": "eucaAccountIdType"}}},
    "eucaAccountListType": {"type": "list", "member": {"shape": "eucaAccountType"}},
    "CreateAccountRequest": {"type": "structure", "required": ["AccountName"],
                             "members": {"AccountName": {"shape": "eucaAccountNameType"},
                                         "Email": {"shape": "eucaEmailType"}}},
    "eucaEmailType": {"type": "string", "max": 128},
    "CreateAccountResponse": {"type": "structure", "required": ["Account"],
                              "members": {"Account": {"shape": "eucaAccountType"}}},
    "DeleteAccountRequest": {"type": "structure", "required": ["AccountName"],
                             "members": {"AccountName": {"shape": "eucaAccountNameType"},
                                         "Recursive": {"shape": "booleanType"}}},
    "ListAccountsRequest": {"type": "structure", "members": {}},
    "ListAccountsResponse": {"type": "structure", "required": ["Accounts"],
                             "members": {"Accounts": {"shape": "eucaAccountListType"}}},
    "eucaAccountIdType": {"type": "string", "max": 12, "min": 12, "pattern": "^[0-9]+$"},
}


def build() -> dict[str, Any]:
    """The extras document: account operations plus ``DelegateAccount`` everywhere."""
    loader = botocore.session.get_session().get_component("data_loader")
    model = loader.load_data("iam/2010-05-08/service-2")
    shapes: dict[str, Any] = dict(_ACCOUNT_SHAPES)
    delegate = {"DelegateAccount": {"shape": "eucaAccountNameType"}}
    for op in model["operations"].values():
        input_shape = op.get("input", {}).get("shape")
        if input_shape:
            shapes.setdefault(input_shape, {}).setdefault("members", {}).update(delegate)
    shapes["ListAccountsRequest"]["members"].update(delegate)
    return {"version": 1.0, "merge": {"operations": _ACCOUNT_OPS, "shapes": shapes}}


def render() -> str:
    return json.dumps(build(), indent=1, sort_keys=True) + "\n"


def main() -> None:
    EXTRAS_PATH.write_text(render())


if __name__ == "__main__":
    main()
