use super::*;

fn staff(country: &str, roles: &[&str]) -> StaffFacts {
    StaffFacts {
        staff_id: "eng".into(),
        roles: roles.iter().map(|r| r.to_string()).collect(),
        org_id: "acme".into(),
        org_kind: "contractor".into(),
        org_country: country.into(),
        org_regions: vec!["jp".into()],
        org_purposes: vec!["CUSTOMER_SUPPORT".into()],
        org_fields: vec!["phone".into(), "email".into()],
    }
}

fn person() -> PersonFacts {
    PersonFacts {
        subject: "alice".into(),
        region: "jp".into(),
        region_countries: vec!["JP".into(), "KR".into()],
    }
}

fn grant(live: bool) -> GrantFacts {
    GrantFacts {
        purpose: "CUSTOMER_SUPPORT".into(),
        fields: vec!["phone".into()],
        duration_secs: 3600,
        break_glass: false,
        live,
        consented: true,
        requester: "eng".into(),
        requester_org: "acme".into(),
    }
}

#[test]
fn the_shipped_policy_validates_and_denies_by_default() {
    let p = Policy::load(None).unwrap();
    let v = p
        .decide(
            Action::Read,
            &staff("JP", &["support"]),
            &person(),
            &grant(true),
        )
        .unwrap();
    assert!(v.allowed, "{v:?}");
    let v = p
        .decide(
            Action::Read,
            &staff("JP", &["support"]),
            &person(),
            &grant(false),
        )
        .unwrap();
    assert!(!v.allowed);
    assert!(v.reasons[0].contains("no live, approved grant"), "{v:?}");
}

#[test]
fn access_from_an_undeclared_country_is_refused_naming_the_rule() {
    let p = Policy::load(None).unwrap();
    for action in [Action::RequestGrant, Action::Read] {
        let v = p
            .decide(action, &staff("CN", &["support"]), &person(), &grant(true))
            .unwrap();
        assert!(!v.allowed);
        assert_eq!(v.rules, vec!["jurisdiction"]);
        assert!(v.reasons[0].contains("not declared"), "{v:?}");
    }
}

#[test]
fn two_person_rule_duration_and_break_glass() {
    let p = Policy::load(None).unwrap();
    let approver = staff("JP", &["approver"]);
    let v = p
        .decide(Action::ApproveGrant, &approver, &person(), &grant(false))
        .unwrap();
    assert_eq!(v.rules, vec!["two-person-rule"], "{v:?}");
    let mut other = grant(false);
    other.requester = "someone-else".into();
    assert!(
        p.decide(Action::ApproveGrant, &approver, &person(), &other)
            .unwrap()
            .allowed
    );
    let mut long = grant(false);
    long.duration_secs = 9 * 3600;
    let v = p
        .decide(
            Action::RequestGrant,
            &staff("JP", &["support"]),
            &person(),
            &long,
        )
        .unwrap();
    assert_eq!(v.rules, vec!["maximum-duration"]);
    let mut glass = grant(false);
    glass.break_glass = true;
    let v = p
        .decide(
            Action::RequestGrant,
            &staff("JP", &["support"]),
            &person(),
            &glass,
        )
        .unwrap();
    assert_eq!(v.rules, vec!["break-glass-needs-security"]);
    let mut wide = grant(false);
    wide.fields = vec!["name".into()];
    let v = p
        .decide(
            Action::RequestGrant,
            &staff("JP", &["support"]),
            &person(),
            &wide,
        )
        .unwrap();
    assert!(!v.allowed && v.rules.is_empty(), "{v:?}");
}

#[test]
fn customer_support_reads_wait_for_the_persons_agreement() {
    let p = Policy::load(None).unwrap();
    let mut g = grant(true);
    g.consented = false;
    let v = p
        .decide(Action::Read, &staff("JP", &["support"]), &person(), &g)
        .unwrap();
    assert_eq!(v.rules, vec!["consent-for-customer-support"]);
    assert!(p
        .needs_consent(&staff("JP", &["support"]), &person(), &g)
        .unwrap());
    g.purpose = "LEGAL_REQUEST".into();
    assert!(!p
        .needs_consent(&staff("JP", &["support"]), &person(), &g)
        .unwrap());
}

#[test]
fn a_policy_with_an_error_is_refused_with_cedars_message() {
    assert!(matches!(
        Policy::parse(
            "permit(principal, action, resource) when { nonsense",
            "x.cedar"
        ),
        Err(PolicyError::Parse { .. })
    ));
    let e = Policy::parse(
        "permit(principal, action, resource) when { principal.salary > 3 };",
        "y.cedar",
    )
    .err()
    .unwrap();
    assert!(matches!(e, PolicyError::Invalid { .. }), "{e}");
}

fn report_grant(live: bool) -> GrantFacts {
    GrantFacts {
        purpose: "ABUSE_REPORT_REVIEW".into(),
        fields: vec!["reports".into()],
        ..grant(live)
    }
}

#[test]
fn reports_open_to_moderators_with_a_live_grant_in_a_declared_country() {
    let p = Policy::load(None).unwrap();
    let open = |country: &str, roles: &[&str], g: &GrantFacts| {
        p.decide(Action::OpenReport, &staff(country, roles), &person(), g)
            .unwrap()
    };
    assert!(open("JP", &["moderator"], &report_grant(true)).allowed);
    // T1: a moderator working from a country the region does not declare.
    let v = open("VN", &["moderator"], &report_grant(true));
    assert!(!v.allowed);
    assert!(v.rules.contains(&"jurisdiction".to_string()), "{v:?}");
    let v = open("JP", &["moderator"], &report_grant(false));
    assert!(!v.allowed);
    assert!(
        v.rules.contains(&"no-live-report-grant".to_string()),
        "{v:?}"
    );
    let v = open("JP", &["support"], &report_grant(true));
    assert!(!v.allowed);
    assert!(
        v.rules.contains(&"reports-need-moderator".to_string()),
        "{v:?}"
    );
    // A grant for another purpose opens no report.
    let v = open("JP", &["moderator"], &grant(true));
    assert!(!v.allowed, "{v:?}");
}

fn actor(id: &str, org_kind: &str, roles: &[&str]) -> crate::Actor {
    crate::Actor {
        staff_id: id.into(),
        roles: roles.iter().map(|r| r.to_string()).collect(),
        org_id: format!("{org_kind}-org"),
        org_kind: org_kind.into(),
        org_country: "JP".into(),
    }
}

#[test]
fn the_realm_is_managed_by_the_operators_admins_only() {
    use crate::RealmAction::*;
    let rules = crate::RealmPolicy::builtin().unwrap();
    let admin = actor("ana", "operator", &["admin"]);
    let contractor_admin = actor("cal", "contractor", &["admin"]);
    let security = actor("sam", "operator", &["security"]);
    for action in [ManageOrgs, ManageStaff, ReadEvents] {
        assert!(rules.decide(action, &admin, "").unwrap().allowed);
        let v = rules.decide(action, &contractor_admin, "").unwrap();
        assert!(!v.allowed);
        assert_eq!(
            v.reasons,
            ["only the operator's admins manage organisations and staff"]
        );
        assert!(!rules.decide(action, &security, "").unwrap().allowed);
    }
    let v = rules.decide(ManageStaff, &admin, "ana").unwrap();
    assert!(!v.allowed);
    assert_eq!(v.rules, ["no-self-suspension"]);
}

#[test]
fn oversight_needs_operator_security_and_nobody_reviews_themselves() {
    use crate::RealmAction::Oversee;
    let rules = crate::RealmPolicy::builtin().unwrap();
    let security = actor("sam", "operator", &["security"]);
    assert!(rules.decide(Oversee, &security, "").unwrap().allowed);
    assert!(rules.decide(Oversee, &security, "eve").unwrap().allowed);
    let own = rules.decide(Oversee, &security, "sam").unwrap();
    assert_eq!(own.reasons, ["nobody reviews their own break-glass access"]);
    let affiliate = actor("aff", "affiliate", &["security"]);
    assert!(!rules.decide(Oversee, &affiliate, "").unwrap().allowed);
    let support = actor("sup", "operator", &["support"]);
    assert!(!rules.decide(Oversee, &support, "").unwrap().allowed);
}

#[test]
fn a_grant_is_revoked_by_its_holder_or_the_operators_overseers() {
    use crate::RealmAction::RevokeGrant;
    let rules = crate::RealmPolicy::builtin().unwrap();
    let holder = actor("con", "contractor", &["support"]);
    assert!(rules.decide(RevokeGrant, &holder, "con").unwrap().allowed);
    assert!(!rules.decide(RevokeGrant, &holder, "other").unwrap().allowed);
    for role in ["approver", "security", "admin"] {
        let overseer = actor("op", "operator", &[role]);
        assert!(rules.decide(RevokeGrant, &overseer, "con").unwrap().allowed);
        let elsewhere = actor("op", "affiliate", &[role]);
        assert!(
            !rules
                .decide(RevokeGrant, &elsewhere, "con")
                .unwrap()
                .allowed
        );
    }
    let support = actor("sup", "operator", &["support"]);
    let v = rules.decide(RevokeGrant, &support, "con").unwrap();
    assert_eq!(
        v.reasons,
        ["only the requester or the operator's approvers, security or admins revoke a grant"]
    );
}

#[test]
fn no_organisation_suspends_itself_and_admins_are_the_operators() {
    use crate::RealmAction::*;
    let rules = crate::RealmPolicy::builtin().unwrap();
    let admin = actor("ana", "operator", &["admin"]);
    let own = rules.decide(ManageOrgs, &admin, "operator-org").unwrap();
    assert_eq!(
        own.reasons,
        ["an organisation cannot suspend itself; suspend its members instead"]
    );
    assert!(rules.decide(ManageOrgs, &admin, "acme").unwrap().allowed);
    let new_member = |org_kind: &str, roles: &[&str]| crate::Target {
        about: "new".into(),
        org_kind: org_kind.into(),
        roles: roles.iter().map(|r| r.to_string()).collect(),
    };
    let v = rules
        .decide_on(ManageStaff, &admin, &new_member("contractor", &["admin"]))
        .unwrap();
    assert_eq!(v.reasons, ["only the operator's staff can be admins"]);
    for (kind, roles) in [
        ("contractor", &["support"][..]),
        ("operator", &["admin"][..]),
    ] {
        assert!(
            rules
                .decide_on(ManageStaff, &admin, &new_member(kind, roles))
                .unwrap()
                .allowed
        );
    }
}

#[test]
fn an_official_account_takes_two_of_the_operators_people() {
    use crate::RealmAction::*;
    let rules = crate::RealmPolicy::builtin().unwrap();
    let support = actor("sup", "operator", &["support"]);
    let approver = actor("apr", "operator", &["approver"]);
    assert!(rules.decide(ProposeOfficial, &support, "").unwrap().allowed);
    assert!(!rules.decide(ApproveOfficial, &support, "").unwrap().allowed);
    assert!(
        rules
            .decide(ApproveOfficial, &approver, "sup")
            .unwrap()
            .allowed
    );
    let own = rules.decide(ApproveOfficial, &approver, "apr").unwrap();
    assert!(!own.allowed);
    assert_eq!(own.rules, ["official-two-people"]);
    for role in ["support", "approver", "admin", "security"] {
        let elsewhere = actor("con", "contractor", &[role]);
        for action in [ProposeOfficial, ApproveOfficial, RevokeOfficial] {
            assert!(!rules.decide(action, &elsewhere, "x").unwrap().allowed);
        }
    }
    assert!(rules.decide(RevokeOfficial, &approver, "").unwrap().allowed);
    let moderator = actor("mod", "operator", &["moderator"]);
    let v = rules.decide(RevokeOfficial, &moderator, "").unwrap();
    assert_eq!(
        v.reasons,
        ["only the operator's approvers, security staff and admins revoke an official account"]
    );
}
