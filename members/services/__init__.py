"""Write-side operations for the members app, one module per concept.

Each operation guards first, then changes, audits and queues mail. Callers use the package
(``from members import services``; ``services.membership_apply(...)``); the modules say where a
rule lives:

- ``organisations``: organisations, affiliations (roles) and Enhetsregisteret's word on them;
- ``claims``: registering an organisation as an applicant, and who confirms the applicant;
- ``memberships``: applying for membership, NHN's decisions;
- ``signing``: who may sign for an organisation, signing terms, delegations, requests to sign;
- ``terms``: terms documents as NHN staff draft and publish them;
- ``vendors``: vendor systems and the municipalities that use them;
- ``identities``: federated identities (HelseID, ID-porten);
- ``invitations``: invitations to colleagues.
"""

from .claims import (
    ClaimLinkProblem,
    claim_ask_administrators,
    claim_confirm_self,
    claim_decide_by_link,
    claim_decide_by_staff,
    claim_for_token,
    claim_link_problem,
    claim_request_confirmation,
    claim_signatory_authority,
    claim_submit,
    claim_token_hash,
    email_verified,
    is_administered,
)
from .identities import (
    IdentityConflict,
    federated_identity_link,
    federated_login_recorded,
    federated_session_forget,
    federated_session_hash,
    federated_session_ids,
    federated_session_record,
    federated_sessions_end,
    federated_user_create,
    logout_token_use,
    profile_update,
)
from .invitations import (
    InvitationNotUsable,
    invitation_accept,
    invitation_for_token,
    invitation_problem,
    invitation_revoke,
    invitation_roles,
    invitation_send,
    invitation_token_hash,
)
from .memberships import (
    membership_apply,
    membership_approve,
    membership_end,
    membership_reinstate,
    membership_reject,
    membership_suspend,
)
from .organisations import REGISTRY_DOWN, RegistryCheck, affiliation_grant, organisation_create, registry_check
from .signing import (
    SIGNING_ROLE_CODES,
    NotVerified,
    SigningAuthority,
    StaleTerms,
    delegation_grant,
    delegation_revoke,
    delegations_bind,
    not_verified_message,
    open_joint_signature,
    registered_signatories,
    signature_request_send,
    signing_authority_for,
    terms_sign,
)
from .terms import (
    default_effective_date,
    not_resigned,
    terms_diff,
    terms_diff_base,
    terms_draft_create,
    terms_notify,
    terms_notify_stale,
    terms_publish,
)
from .vendors import (
    vendor_assignment_create,
    vendor_assignment_end,
    vendor_system_create,
    vendor_system_set_services,
)

__all__ = [
    "REGISTRY_DOWN",
    "SIGNING_ROLE_CODES",
    "ClaimLinkProblem",
    "IdentityConflict",
    "InvitationNotUsable",
    "NotVerified",
    "RegistryCheck",
    "SigningAuthority",
    "StaleTerms",
    "affiliation_grant",
    "claim_ask_administrators",
    "claim_confirm_self",
    "claim_decide_by_link",
    "claim_decide_by_staff",
    "claim_for_token",
    "claim_link_problem",
    "claim_request_confirmation",
    "claim_signatory_authority",
    "claim_submit",
    "claim_token_hash",
    "default_effective_date",
    "delegation_grant",
    "delegation_revoke",
    "delegations_bind",
    "email_verified",
    "federated_identity_link",
    "federated_login_recorded",
    "federated_session_forget",
    "federated_session_hash",
    "federated_session_ids",
    "federated_session_record",
    "federated_sessions_end",
    "federated_user_create",
    "invitation_accept",
    "invitation_for_token",
    "invitation_problem",
    "invitation_revoke",
    "invitation_roles",
    "invitation_send",
    "invitation_token_hash",
    "is_administered",
    "logout_token_use",
    "membership_apply",
    "membership_approve",
    "membership_end",
    "membership_reinstate",
    "membership_reject",
    "membership_suspend",
    "not_resigned",
    "not_verified_message",
    "open_joint_signature",
    "organisation_create",
    "profile_update",
    "registered_signatories",
    "registry_check",
    "signature_request_send",
    "signing_authority_for",
    "terms_diff",
    "terms_diff_base",
    "terms_draft_create",
    "terms_notify",
    "terms_notify_stale",
    "terms_publish",
    "terms_sign",
    "vendor_assignment_create",
    "vendor_assignment_end",
    "vendor_system_create",
    "vendor_system_set_services",
]
