//! Group practices (issue 18 point 4) on SQLite and PostgreSQL, through the services the
//! web pages and the API call, and through the API itself:
//! - an assistant runs exactly the agendas it has a right on (404 on the others'
//!   appointments and bookings), and the rights are set all or nothing by members only;
//! - colleagues of an organisation see each other's grid but cannot change it; strangers
//!   get 404;
//! - a practitioner in two organisations (a clinic and a private office) picks one;
//! - an assistant invited the old way runs all its practitioner's agendas, new ones too;
//! - a practitioner leaves or is removed (the assistants' rights on their agendas go with
//!   the membership), never the last member nor from their only organisation; an assistant
//!   is removed;
//! - invitations given an address are mailed (a real SMTP server);
//! - switching organisation on the grid with a colleague's agenda picked shows the whole
//!   practice, not a 404.
//!
//! An assistant of a database made before organisations keeps its access: see the upgrade
//! tests of both store crates (`an_assistant_keeps_its_agendas_through_0051`).

mod common;
#[path = "common/smtp.rs"]
mod smtp;

use careslot_domain::{AgendaId, MotivePolicy};
use careslot_scheduling::agenda_access::AgendaAccess;
use careslot_server::services::*;
use careslot_store::Role;
use common::{app_on, new_location, open_custody, person, Backend};
use reqwest::{Method, StatusCode};
use serde_json::json;

struct Practice {
    caller: Caller,
    agenda: AgendaId,
    motive: String,
}

async fn agenda_of(app: &App, caller: &Caller, place: &str) -> (AgendaId, String) {
    let agenda = app
        .create_agenda(caller, place, Some(None))
        .await
        .expect("agenda");
    let motive = app
        .create_motive(
            caller,
            &agenda.id,
            NewMotive {
                name: "Consultation".into(),
                duration_min: 30,
                capacity: 1,
                policy: MotivePolicy::default(),
                vaccine: None,
            },
        )
        .await
        .expect("motive");
    app.create_rule(
        caller,
        &agenda.id,
        NewRule {
            weekdays: vec![1, 2, 3, 4, 5, 6, 7],
            start: "08:00".into(),
            end: "18:00".into(),
            motive_ids: vec![motive.id.to_string()],
            valid_from: None,
            valid_until: None,
        },
    )
    .await
    .expect("rule");
    (agenda.id, motive.id.to_string())
}

async fn place_of(app: &App, caller: &Caller) -> String {
    app.create_place(
        caller,
        NewPlace {
            name: "Cabinet".into(),
            address: "1 rue de la Paix".into(),
            postcode: "75002".into(),
            city: "Paris".into(),
            country: "FR".into(),
            lat: 48.8686,
            lon: 2.3314,
            timezone: "Europe/Paris".into(),
        },
    )
    .await
    .expect("place")
    .id
    .to_string()
}

async fn practice(app: &App, name: &str) -> Practice {
    let caller = person(app, Role::Practitioner, name).await.0;
    app.set_profile(
        &caller,
        ProfileInput {
            name: name.into(),
            specialty: "general-practitioner".into(),
            languages: vec!["fr".into()],
            bio: None,
        },
    )
    .await
    .expect("profile");
    let place = place_of(app, &caller).await;
    let (agenda, motive) = agenda_of(app, &caller, &place).await;
    Practice {
        caller,
        agenda,
        motive,
    }
}

/// Free starts over the next week, RFC 3339.
async fn free(app: &App, agenda: &AgendaId, motive: &str) -> Vec<String> {
    let from = jiff::Zoned::now().date();
    let to = from.checked_add(jiff::Span::new().days(7)).expect("date");
    let (view, slots) = app
        .slots(SlotQuery {
            agenda_id: agenda.as_str(),
            motive_id: motive,
            from: &from.to_string(),
            to: &to.to_string(),
        })
        .await
        .expect("slots");
    slots
        .iter()
        .map(|s| careslot_core::time::format_instant(s.start, &view.tz))
        .collect()
}

async fn book(app: &App, who: &Caller, p: &Practice, start: &str) -> AppResult<Appointment> {
    app.desk_book(
        who,
        &p.agenda,
        &p.motive,
        start,
        DeskPatient::New {
            name: "Marcel Groupe",
            phone: "06 12 34 56 78",
            birth_date: None,
        },
        None,
    )
    .await
}

fn week() -> (String, String) {
    let from = jiff::Zoned::now().date();
    let to = from.checked_add(jiff::Span::new().days(7)).expect("date");
    (from.to_string(), to.to_string())
}

/// An assistant account made from an invitation link (its address proof does not matter
/// to the services, which take the caller as the session layer gives it).
async fn assistant(app: &App, token: &str, name: &str) -> Caller {
    let email = format!(
        "{}-{}@example.test",
        name.to_lowercase(),
        common::uuid_like()
    );
    let made = app
        .accept_invitation(
            token,
            &email,
            name,
            "assistant password",
            careslot_messages::Lang::Fr,
            std::net::Ipv4Addr::LOCALHOST.into(),
        )
        .await
        .expect("accept")
        .expect("a new account");
    Caller {
        id: made.id,
        role: Role::Assistant,
        second_factor: true,
    }
}

fn not_found<T: std::fmt::Debug>(r: AppResult<T>) {
    assert!(matches!(r, Err(AppError::NotFound(_))), "{r:?}");
}

async fn app(backend: Backend) -> (App, common::DataLocation) {
    let loc = new_location(backend).await;
    let custody = open_custody(&loc).await;
    (app_on(&loc, custody).await, loc)
}

async fn assistants_run_only_their_agendas(backend: Backend) {
    let (app, _loc) = app(backend).await;
    let one = practice(&app, "Dr Un").await;
    let two = practice(&app, "Dr Deux").await;
    let stranger = practice(&app, "Dr Ailleurs").await;
    let (from, to) = week();

    let org = app
        .create_organisation(&one.caller, "Maison de santé du Parc")
        .await
        .expect("organisation");
    let id = org.id.as_str();
    let link = app.invite_colleague(&one.caller, id).await.expect("invite");
    let joined = app
        .join_organisation(&two.caller, &link.token)
        .await
        .expect("join");
    assert_eq!(joined.id, org.id);
    not_found(app.join_organisation(&stranger.caller, &link.token).await);
    not_found(app.my_organisation(&stranger.caller, id).await);
    not_found(app.invite_colleague(&stranger.caller, id).await.map(|_| ()));
    let members = app
        .organisation_members(&two.caller, id)
        .await
        .expect("members");
    assert_eq!(members.len(), 2);

    // An assistant of the organisation, invited by Dr Un: Dr Un's agenda to begin with.
    let inv = app
        .invite_organisation_assistant(&one.caller, id)
        .await
        .expect("invite");
    let anne = assistant(&app, &inv.token, "Anne").await;
    let listed = app
        .organisation_assistants(&two.caller, id)
        .await
        .expect("assistants");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].1, vec![one.agenda.clone()]);
    let slots_one = free(&app, &one.agenda, &one.motive).await;
    let slots_two = free(&app, &two.agenda, &two.motive).await;
    book(&app, &anne, &one, &slots_one[0])
        .await
        .expect("runs Dr Un's");
    app.agenda_appointments(&anne, &one.agenda, &from, &to)
        .await
        .expect("sees Dr Un's");
    // No right on Dr Deux's agenda: as if it did not exist.
    not_found(book(&app, &anne, &two, &slots_two[0]).await);
    not_found(
        app.agenda_appointments(&anne, &two.agenda, &from, &to)
            .await,
    );
    not_found(app.grid_appointments(&anne, &two.agenda, &from, &to).await);
    let runs: Vec<AgendaId> = app
        .desk_agendas(&anne)
        .await
        .expect("agendas")
        .into_iter()
        .map(|e| e.agenda_id)
        .collect();
    assert_eq!(runs, vec![one.agenda.clone()]);

    // Rights on both, set by a member; an agenda outside the organisation changes nothing.
    let both = vec![one.agenda.to_string(), two.agenda.to_string()];
    app.set_assistant_rights(&two.caller, id, anne.id.as_str(), &both)
        .await
        .expect("rights");
    let mut bad = both.clone();
    bad.push(stranger.agenda.to_string());
    not_found(
        app.set_assistant_rights(&one.caller, id, anne.id.as_str(), &bad)
            .await,
    );
    not_found(
        app.set_assistant_rights(&stranger.caller, id, anne.id.as_str(), &both)
            .await,
    );
    not_found(
        app.set_assistant_rights(&one.caller, id, "no-such-assistant", &both)
            .await,
    );
    book(&app, &anne, &two, &slots_two[0])
        .await
        .expect("runs Dr Deux's now");
    let grid = app.practice_agendas(&anne, None).await.expect("grid");
    assert_eq!(grid.len(), 2, "both practitioners side by side");
    assert!(grid.iter().all(|(_, a)| *a == AgendaAccess::Run));
    not_found(book(&app, &anne, &stranger, &slots_one[1]).await);

    // Only Dr Deux's: Dr Un's agenda is gone for Anne.
    app.set_assistant_rights(&one.caller, id, anne.id.as_str(), &both[1..])
        .await
        .expect("rights");
    not_found(
        app.agenda_appointments(&anne, &one.agenda, &from, &to)
            .await,
    );
    not_found(book(&app, &anne, &one, &slots_one[2]).await);

    // Colleagues view each other's grid, and change nothing; strangers see nothing.
    let seen = app
        .grid_appointments(&two.caller, &one.agenda, &from, &to)
        .await
        .expect("a colleague's grid");
    assert_eq!(seen.len(), 1);
    not_found(
        app.agenda_appointments(&two.caller, &one.agenda, &from, &to)
            .await,
    );
    not_found(book(&app, &two.caller, &one, &slots_one[3]).await);
    not_found(
        app.grid_appointments(&stranger.caller, &one.agenda, &from, &to)
            .await,
    );
    let whole = app
        .practice_agendas(&two.caller, Some(id))
        .await
        .expect("whole practice");
    assert_eq!(
        whole
            .iter()
            .map(|(e, a)| (e.agenda_id.clone(), *a))
            .collect::<Vec<_>>(),
        vec![
            (one.agenda.clone(), AgendaAccess::View),
            (two.agenda.clone(), AgendaAccess::Run)
        ]
    );
}

async fn a_practitioner_in_two_organisations(backend: Backend) {
    let (app, _loc) = app(backend).await;
    let clinic_head = practice(&app, "Dr Clinique").await;
    let both = practice(&app, "Dr Deux Lieux").await;
    let stranger = practice(&app, "Dr Seul").await;

    // The private office: Dr Deux Lieux's own organisation, made on first use.
    let own = app.my_organisations(&both.caller).await.expect("own");
    assert_eq!(own.len(), 1);
    let clinic = app
        .create_organisation(&clinic_head.caller, "Clinique des Lilas")
        .await
        .expect("clinic");
    let link = app
        .invite_colleague(&clinic_head.caller, clinic.id.as_str())
        .await
        .expect("invite");
    app.join_organisation(&both.caller, &link.token)
        .await
        .expect("join");
    let mine = app.my_organisations(&both.caller).await.expect("mine");
    assert_eq!(mine.len(), 2);
    assert_eq!(
        mine[0].id, own[0].id,
        "the first membership stays the default"
    );

    // The current one is the chosen one when it is theirs, else the first.
    let current = app
        .current_organisation(&both.caller, Some(clinic.id.as_str()))
        .await
        .expect("clinic");
    assert_eq!(current.id, clinic.id);
    let fallback = app
        .current_organisation(&both.caller, Some("someone-elses"))
        .await
        .expect("first");
    assert_eq!(fallback.id, own[0].id);
    let at_clinic = app
        .practice_agendas(&both.caller, Some(clinic.id.as_str()))
        .await
        .expect("clinic grid");
    assert_eq!(at_clinic.len(), 2);
    let at_office = app
        .practice_agendas(&both.caller, Some(own[0].id.as_str()))
        .await
        .expect("office grid");
    assert_eq!(
        at_office
            .iter()
            .map(|(e, a)| (e.agenda_id.clone(), *a))
            .collect::<Vec<_>>(),
        vec![(both.agenda.clone(), AgendaAccess::Run)]
    );
    // The clinic's head sees Dr Deux Lieux's grid; the private office's other members
    // (none) would too; a stranger renames nothing.
    app.grid_appointments(&clinic_head.caller, &both.agenda, &week().0, &week().1)
        .await
        .expect("colleague");
    let renamed = app
        .rename_organisation(
            &both.caller,
            clinic.id.as_str(),
            "Clinique des Lilas — Paris",
        )
        .await
        .expect("rename");
    assert_eq!(renamed.name, "Clinique des Lilas — Paris");
    not_found(
        app.rename_organisation(&stranger.caller, clinic.id.as_str(), "Mine")
            .await,
    );
    assert!(matches!(
        app.rename_organisation(&both.caller, clinic.id.as_str(), "  ")
            .await,
        Err(AppError::Invalid(_))
    ));
    // A patient has no organisation.
    let patient = person(&app, Role::Patient, "Pat").await.0;
    assert!(matches!(
        app.my_organisations(&patient).await,
        Err(AppError::Forbidden(_))
    ));
}

async fn an_assistant_invited_the_old_way_runs_every_agenda(backend: Backend) {
    let (app, _loc) = app(backend).await;
    let p = practice(&app, "Dr Historique").await;
    let inv = app.invite_assistant(&p.caller).await.expect("invite");
    let bea = assistant(&app, &inv.token, "Bea").await;
    let (from, to) = week();
    app.agenda_appointments(&bea, &p.agenda, &from, &to)
        .await
        .expect("runs it");
    // A second agenda made afterwards is the assistant's too, as before organisations.
    let place = place_of(&app, &p.caller).await;
    let (second, motive) = agenda_of(&app, &p.caller, &place).await;
    let start = free(&app, &second, &motive).await;
    let p2 = Practice {
        caller: p.caller.clone(),
        agenda: second.clone(),
        motive,
    };
    book(&app, &bea, &p2, &start[0])
        .await
        .expect("runs the new one");
    let orgs = app.my_organisations(&bea).await.expect("its organisation");
    assert_eq!(orgs.len(), 1);
    // Removing the assistant still works the old way.
    app.remove_assistant(&p.caller, bea.id.as_str())
        .await
        .expect("removed");
}

/// The organisations API: list, create, rename, members, invitations, joining, rights.
async fn the_api(backend: Backend) {
    let (srv, _loc) = common::start(backend).await;
    let a = srv.practice("Dr Api Un", 15, 1).await;
    let b = srv.practice("Dr Api Deux", 15, 1).await;
    let c = srv.practice("Dr Api Trois", 15, 1).await;
    let (s, list) = srv
        .get("/api/v1/practice/organisations", Some(&a.token))
        .await;
    assert_eq!(s, StatusCode::OK, "{list}");
    assert_eq!(list["organisations"].as_array().map(Vec::len), Some(1));
    let (s, org) = srv
        .post(
            "/api/v1/practice/organisations",
            Some(&a.token),
            json!({"name": "Centre médical"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{org}");
    let id = org["id"].as_str().expect("id").to_owned();
    let (s, inv) = srv
        .post(
            &format!("/api/v1/practice/organisations/{id}/invitations"),
            Some(&a.token),
            json!({"kind": "colleague"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{inv}");
    let (s, joined) = srv
        .post(
            "/api/v1/practice/organisations/join",
            Some(&b.token),
            json!({"token": inv["token"]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{joined}");
    assert_eq!(joined["id"], id.as_str());
    let (s, _) = srv
        .post(
            "/api/v1/practice/organisations/join",
            Some(&c.token),
            json!({"token": inv["token"]}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "single use");
    let (s, members) = srv
        .get(
            &format!("/api/v1/practice/organisations/{id}/members"),
            Some(&b.token),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{members}");
    assert_eq!(members["practitioners"].as_array().map(Vec::len), Some(2));
    let (s, _) = srv
        .get(
            &format!("/api/v1/practice/organisations/{id}/members"),
            Some(&c.token),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, renamed) = srv
        .call(
            Method::PUT,
            &format!("/api/v1/practice/organisations/{id}"),
            Some(&b.token),
            Some(json!({"name": "Centre médical du Port"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{renamed}");
    assert_eq!(renamed["name"], "Centre médical du Port");
    let (s, inv) = srv
        .post(
            &format!("/api/v1/practice/organisations/{id}/invitations"),
            Some(&a.token),
            json!({"kind": "assistant"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{inv}");
    let (s, _) = srv
        .call(
            Method::PUT,
            &format!("/api/v1/practice/organisations/{id}/assistants/nobody/agendas"),
            Some(&a.token),
            Some(json!({"agendas": [a.agenda_id]})),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (patient, _) = srv.account("patient", "Zoé Patiente").await;
    let (s, _) = srv
        .get("/api/v1/practice/organisations", Some(&patient))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    srv.stop().await;
}

fn conflict<T: std::fmt::Debug>(r: AppResult<T>, slug: &str) {
    assert!(
        matches!(&r, Err(AppError::Conflict(s, _)) if *s == slug),
        "{r:?}"
    );
}

async fn leaving_and_removing(backend: Backend) {
    let (app, _loc) = app(backend).await;
    let one = practice(&app, "Dr Reste").await;
    let two = practice(&app, "Dr Part").await;
    let stranger = practice(&app, "Dr Dehors").await;
    let (from, to) = week();
    let org = app
        .create_organisation(&one.caller, "Cabinet du Lac")
        .await
        .expect("organisation");
    let id = org.id.as_str();
    // Dr Part also has a private office (their own organisation, made on first use).
    assert_eq!(
        app.my_organisations(&two.caller).await.expect("own").len(),
        1
    );
    let link = app.invite_colleague(&one.caller, id).await.expect("invite");
    app.join_organisation(&two.caller, &link.token)
        .await
        .expect("join");
    let two_id = app.practice_of(&two.caller).await.expect("practice").id;
    let inv = app
        .invite_organisation_assistant(&one.caller, id)
        .await
        .expect("invite");
    let anne = assistant(&app, &inv.token, "Anne").await;
    let both = vec![one.agenda.to_string(), two.agenda.to_string()];
    app.set_assistant_rights(&one.caller, id, anne.id.as_str(), &both)
        .await
        .expect("rights");
    app.agenda_appointments(&anne, &two.agenda, &from, &to)
        .await
        .expect("runs Dr Part's");

    // Nobody outside removes anyone; an unknown member is unknown.
    not_found(
        app.remove_member(&stranger.caller, id, two_id.as_str())
            .await,
    );
    not_found(
        app.remove_member(&one.caller, id, "no-such-practitioner")
            .await,
    );
    // Dr Part leaves: Anne's right on Dr Part's agenda goes (the foreign keys), the other
    // stays; Dr Reste no longer sees Dr Part's grid.
    app.leave_organisation(&two.caller, id).await.expect("left");
    not_found(
        app.agenda_appointments(&anne, &two.agenda, &from, &to)
            .await,
    );
    app.agenda_appointments(&anne, &one.agenda, &from, &to)
        .await
        .expect("still runs Dr Reste's");
    let listed = app
        .organisation_assistants(&one.caller, id)
        .await
        .expect("assistants");
    assert_eq!(listed[0].1, vec![one.agenda.clone()]);
    not_found(
        app.grid_appointments(&one.caller, &two.agenda, &from, &to)
            .await,
    );
    not_found(app.my_organisation(&two.caller, id).await);
    assert_eq!(
        app.organisation_members(&one.caller, id)
            .await
            .expect("members")
            .len(),
        1
    );
    // The last member stays.
    conflict(app.leave_organisation(&one.caller, id).await, "last-member");
    // Dr Reste leaves once Dr Part is back, and, left with none, is in their own
    // organisation again.
    let again = app.invite_colleague(&one.caller, id).await.expect("invite");
    app.join_organisation(&two.caller, &again.token)
        .await
        .expect("join again");
    app.leave_organisation(&one.caller, id).await.expect("left");
    let own = app.my_organisations(&one.caller).await.expect("own");
    let one_id = app.practice_of(&one.caller).await.expect("practice").id;
    assert_eq!(own.len(), 1);
    assert_eq!(own[0].id.as_str(), one_id.as_str());
    // Their own organisation, their only one, with a colleague in it: they stay.
    let own_id = own[0].id.to_string();
    let link = app
        .invite_colleague(&one.caller, &own_id)
        .await
        .expect("invite");
    app.join_organisation(&two.caller, &link.token)
        .await
        .expect("join");
    conflict(
        app.leave_organisation(&one.caller, &own_id).await,
        "only-organisation",
    );
    // A member removes another (who keeps their other organisations).
    app.remove_member(&one.caller, &own_id, two_id.as_str())
        .await
        .expect("removed");
    assert_eq!(
        app.my_organisations(&two.caller).await.expect("orgs").len(),
        2
    );

    // Removing the assistant ends its account; a stranger cannot, and twice is unknown.
    not_found(
        app.remove_organisation_assistant(&stranger.caller, id, anne.id.as_str())
            .await,
    );
    app.remove_organisation_assistant(&two.caller, id, anne.id.as_str())
        .await
        .expect("removed");
    assert!(app
        .organisation_assistants(&two.caller, id)
        .await
        .expect("assistants")
        .is_empty());
    not_found(
        app.remove_organisation_assistant(&two.caller, id, anne.id.as_str())
            .await,
    );
    assert!(
        app.store.account(&anne.id).await.expect("read").is_none(),
        "no account left"
    );
}

/// The organisation API's leaving and removing, and the grid's organisation switch.
async fn leaving_through_the_api_and_switching_on_the_grid(backend: Backend) {
    let (srv, _loc) = common::start(backend).await;
    let a = srv.practice("Dr Api Quitte", 15, 1).await;
    let b = srv.practice("Dr Api Reste", 15, 1).await;
    let c = srv.practice("Dr Api Tiers", 15, 1).await;
    let (_, list) = srv
        .get("/api/v1/practice/organisations", Some(&a.token))
        .await;
    let own = list["organisations"][0]["id"]
        .as_str()
        .expect("own")
        .to_owned();
    let (_, org) = srv
        .post(
            "/api/v1/practice/organisations",
            Some(&a.token),
            json!({"name": "Centre du Quai"}),
        )
        .await;
    let id = org["id"].as_str().expect("id").to_owned();
    let (_, inv) = srv
        .post(
            &format!("/api/v1/practice/organisations/{id}/invitations"),
            Some(&a.token),
            json!({"kind": "colleague"}),
        )
        .await;
    assert_eq!(inv["mailed"], false);
    let (s, _) = srv
        .post(
            "/api/v1/practice/organisations/join",
            Some(&b.token),
            json!({"token": inv["token"]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);

    // On the grid, Dr Api Quitte picks Dr Api Reste's agenda, then switches to the private
    // office: the whole practice there, not a 404. An agenda asked for alone stays unknown.
    let grid = |path: String| {
        let srv = &srv;
        let token = a.token.clone();
        async move {
            let r = reqwest::Client::new()
                .get(format!("{}{path}", srv.base))
                .header(reqwest::header::COOKIE, format!("careslot_session={token}"))
                .header(reqwest::header::ACCEPT_LANGUAGE, "en")
                .send()
                .await
                .expect("grid");
            let status = r.status();
            (status, r.text().await.expect("html"))
        }
    };
    let column = |agenda: &str| format!("data-agenda=\"{agenda}\"");
    let (s, html) = grid(format!("/pro/grid?org={id}&agenda={}", b.agenda_id)).await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains(&column(&b.agenda_id)), "{html}");
    let (s, html) = grid(format!("/pro/grid?org={own}&agenda={}", b.agenda_id)).await;
    assert_eq!(s, StatusCode::OK, "{html}");
    assert!(html.contains(&column(&a.agenda_id)), "{html}");
    assert!(!html.contains(&column(&b.agenda_id)), "{html}");
    let (s, _) = grid(format!("/pro/grid?agenda={}", c.agenda_id)).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    let members = |token: String| {
        let srv = &srv;
        let id = id.clone();
        async move {
            srv.get(
                &format!("/api/v1/practice/organisations/{id}/members"),
                Some(&token),
            )
            .await
        }
    };
    let (_, body) = members(b.token.clone()).await;
    let a_id = body["practitioners"][0]["id"]
        .as_str()
        .expect("a")
        .to_owned();
    let b_id = body["practitioners"][1]["id"]
        .as_str()
        .expect("b")
        .to_owned();
    // A stranger removes nobody; Dr Api Quitte leaves; Dr Api Reste, last, cannot.
    let (s, _) = srv
        .call(
            Method::DELETE,
            &format!("/api/v1/practice/organisations/{id}/members/{b_id}"),
            Some(&c.token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, body) = srv
        .post(
            &format!("/api/v1/practice/organisations/{id}/leave"),
            Some(&a.token),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{body}");
    let (s, _) = members(a.token.clone()).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "no longer a member");
    let (s, body) = srv
        .call(
            Method::DELETE,
            &format!("/api/v1/practice/organisations/{id}/members/{b_id}"),
            Some(&b.token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    assert!(
        body["type"]
            .as_str()
            .is_some_and(|t| t.ends_with("last-member")),
        "{body}"
    );
    let (s, _) = srv
        .call(
            Method::DELETE,
            &format!("/api/v1/practice/organisations/{id}/members/{a_id}"),
            Some(&b.token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "already gone");
    let (s, _) = srv
        .call(
            Method::DELETE,
            &format!("/api/v1/practice/organisations/{id}/assistants/nobody"),
            Some(&b.token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    srv.stop().await;
}

/// Invitations from the organisation (API and page) with an address are mailed, as the
/// team page's are; the link to copy stays.
async fn invitations_are_mailed(backend: Backend) {
    let sink = smtp::SmtpSink::start();
    sink.hide_sign_up_mail();
    let channel =
        careslot_messages::SmtpChannel::from_url(&sink.url(), "careslot <no-reply@careslot.test>")
            .expect("smtp channel");
    let config = AppConfig {
        public_url: Some("https://careslot.example".into()),
        messages: careslot_server::outbox::MessagesConfig {
            channel: Some(std::sync::Arc::new(channel)),
            poll: std::time::Duration::from_millis(50),
            ..Default::default()
        },
        ..AppConfig::default()
    };
    let (srv, _loc) = common::start_configured(backend, config).await;
    let a = srv.practice("Dr Invite", 15, 1).await;
    let (_, org) = srv
        .post(
            "/api/v1/practice/organisations",
            Some(&a.token),
            json!({"name": "Maison médicale des Invités"}),
        )
        .await;
    let id = org["id"].as_str().expect("id").to_owned();
    let url = format!("/api/v1/practice/organisations/{id}/invitations");
    let (s, bad) = srv
        .post(
            &url,
            Some(&a.token),
            json!({"kind": "assistant", "email": "not an address"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    let (s, anne) = srv
        .post(
            &url,
            Some(&a.token),
            json!({"kind": "assistant", "email": "anne.invitee@example.test"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{anne}");
    assert_eq!(anne["mailed"], true);
    // The page's colleague form, with an address: the link is shown and mailed.
    let csrf = "organisation-invite-csrf-0123456789abcdef";
    let resp = reqwest::Client::new()
        .post(format!(
            "{}/pro/organisation/{id}/invite-colleague",
            srv.base
        ))
        .header(
            reqwest::header::COOKIE,
            format!("careslot_session={}; careslot_csrf={csrf}", a.token),
        )
        .header(reqwest::header::ACCEPT_LANGUAGE, "en")
        .form(&[("csrf", csrf), ("email", "colette.collegue@example.test")])
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), StatusCode::OK);
    let html = resp.text().await.expect("html");
    assert!(html.contains("/pro/organisation/join?token="), "{html}");
    assert!(html.contains("copy-invite"), "the copy button stays");

    let got = sink.wait_for(2, std::time::Duration::from_secs(60)).await;
    let mails: Vec<serde_json::Value> = got.iter().map(|p| smtp::summary(p)).collect();
    let body_of = |to: &str| {
        let m = mails
            .iter()
            .find(|m| m["to"].as_str().is_some_and(|t| t.contains(to)))
            .unwrap_or_else(|| panic!("no mail to {to}: {mails:?}"));
        m["parts"]
            .as_array()
            .and_then(|p| p.iter().find(|p| p["type"] == "text/plain"))
            .and_then(|p| p["text"].as_str())
            .unwrap_or_default()
            .to_owned()
    };
    let token = anne["token"].as_str().expect("token");
    assert!(
        body_of("anne.invitee").contains(&format!("https://careslot.example/invite/{token}")),
        "{mails:?}"
    );
    let colette = body_of("colette.collegue");
    assert!(colette.contains("https://careslot.example/pro/organisation/join?token="));
    // Each invitation says what it is for (in the inviter's language).
    assert!(
        ["en tant que praticien", "as a practitioner"]
            .iter()
            .any(|w| colette.contains(w))
            && colette.contains("Maison médicale des Invités"),
        "a colleague is invited to join as a practitioner: {colette}"
    );
    let anne = body_of("anne.invitee");
    assert!(
        ["gérer les rendez-vous", "manage appointments"]
            .iter()
            .any(|w| anne.contains(w))
            && !["en tant que praticien", "as a practitioner"]
                .iter()
                .any(|w| anne.contains(w)),
        "an assistant is invited to manage appointments: {anne}"
    );
    assert_eq!(mails.len(), 2, "{mails:?}");
    srv.stop().await;
}

on_both_backends!(
    assistants_run_only_their_agendas,
    a_practitioner_in_two_organisations,
    an_assistant_invited_the_old_way_runs_every_agenda,
    the_api,
    leaving_and_removing,
    leaving_through_the_api_and_switching_on_the_grid,
    invitations_are_mailed
);
