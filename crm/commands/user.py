"""`python -m crm user list|add|reset-password|unlock|role`: user admin from the shell (e.g. a
lost admin password, or an admin kept waiting by wrong passwords). Acts as crm.auth.CLI; every
change goes to the audit log. One-time passwords expire after CRM_ONE_TIME_PASSWORD_HOURS
(default 72); `reset-password` gives a new one, and ends the account's sign-ins from before."""

from __future__ import annotations

import json

from crm.auth import CLI, ROLES


def register(sub) -> None:
    user = sub.add_parser("user", help="local accounts and roles").add_subparsers(dest="user_command", required=True)
    user.add_parser("list", help="print the users as JSON lines").set_defaults(handler=list_command)
    add = user.add_parser("add", help="add a local account; the last line printed is its one-time password")
    add.add_argument("username")
    add.add_argument("--role", choices=list(ROLES), default="viewer")
    add.add_argument("--name", default="")
    add.add_argument("--email", default="")
    add.set_defaults(handler=add_command)
    reset = user.add_parser(
        "reset-password", help="new one-time password (the last line printed); also lifts the sign-in back-off"
    )
    reset.add_argument("username")
    reset.set_defaults(handler=reset_command)
    unlock = user.add_parser("unlock", help="lift the sign-in back-off after wrong passwords, now")
    unlock.add_argument("username")
    unlock.set_defaults(handler=unlock_command)
    role = user.add_parser("role", help="change a user's role")
    role.add_argument("username")
    role.add_argument("role", choices=list(ROLES))
    role.set_defaults(handler=role_command)


def list_command(args) -> int:
    from crm.auth import users
    from crm.store import get_db

    for user in users.list_users(db=get_db()):
        print(json.dumps(user.model_dump(mode="json")))
    return 0


def add_command(args) -> int:
    from crm.auth import users
    from crm.store import get_db

    user, password = users.add_local_user(CLI, args.username, args.role, name=args.name, email=args.email, db=get_db())
    print(
        f"added {user.username} ({user.role}); one-time password, {_valid_until(user)}, to be changed at first sign-in:"
    )
    print(password)
    return 0


def reset_command(args) -> int:
    from crm.auth import users
    from crm.store import get_db

    password = users.reset_password(CLI, args.username, db=get_db())
    user = users.get_user(args.username, db=get_db())
    assert user is not None  # reset_password raised NotFound otherwise
    print(
        f"new one-time password for {user.username}, {_valid_until(user)}, to be changed at first sign-in "
        "(earlier sign-ins of the account have ended):"
    )
    print(password)
    return 0


def _valid_until(user) -> str:
    from crm.auth.one_time_passwords import describe_expiry

    return f"valid until {describe_expiry(user.password_expires_at)}"


def unlock_command(args) -> int:
    from crm.auth import users
    from crm.store import get_db

    cleared = users.unlock(CLI, args.username, db=get_db())
    print(
        f"{args.username} may sign in again now"
        + (f" (back-off lifted for {cleared} client(s))" if cleared else " (no back-off was in force)")
    )
    return 0


def role_command(args) -> int:
    from crm.auth import users
    from crm.store import get_db

    user = users.set_role(CLI, args.username, args.role, db=get_db())
    print(f"{user.username} is now {user.role}")
    return 0
