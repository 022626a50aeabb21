//! Routing rules over HTTP: versions of a company's ruleset, roll-back,
//! refusals that point at the fault, and dry-runs that explain a decision.

mod common;

use common::{App, spawn_app, ticket_json, wait_for_json};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn send(app: &App, method: reqwest::Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    let mut request = app.client.request(method, app.url(path));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("send");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn rules(first_team: &str, other_team: &str) -> Value {
    json!({"rules": [
        {"name": "vip", "when": "tag:vip", "then": [{"kind": "route_to_team", "team": other_team}], "stop": true},
        {"name": "printers", "when": "tag:printer (jam OR \"error e 45\")", "then": [
            {"kind": "route_to_team", "team": first_team},
            {"kind": "add_tags", "tags": ["hardware"]}
        ]},
        {"name": "old rule", "enabled": false, "when": "", "then": [{"kind": "flag_for_review"}]}
    ]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rulesets_are_versioned_explained_and_rolled_back() {
    use reqwest::Method;
    let app = spawn_app().await;
    let mut team_ids = Vec::new();
    for name in ["Printers", "Escalations"] {
        let (status, team) = send(&app, Method::POST, "/v1/teams", Some(json!({"name": name}))).await;
        assert_eq!(status, StatusCode::CREATED);
        team_ids.push(team["id"].as_str().expect("id").to_owned());
    }
    let (team, other_team) = (team_ids[0].as_str(), team_ids[1].as_str());

    let (status, first) = send(&app, Method::PUT, "/v1/routing/rulesets", Some(rules(team, other_team))).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert_eq!((first["version"].clone(), first["active"].clone()), (json!(1), json!(true)));
    assert_eq!(first["rules"][1]["when"], json!("tag:printer (jam OR \"error e 45\")"));
    assert_eq!(first["rules"][2]["enabled"], json!(false));

    // A stored ticket, tried against the active version.
    let accepted: Value = app
        .client
        .post(app.url("/v1/tickets"))
        .json(&ticket_json("Printer error"))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("JSON");
    let ticket_id = accepted["id"].as_str().expect("id").to_owned();
    // Routed first, so the dry run sees the ticket as it stays (the
    // router's tags on it): which tags a run adds depends on that.
    let routed = wait_for_json(&app.client, &app.url(&format!("/v1/tickets/{ticket_id}")), "routed", |ticket| {
        ticket["routing"].is_object()
    })
    .await;
    assert_eq!(routed["tags"], json!(["printer", "hardware"]), "the rule's tag was added: {routed}");
    let (status, run) = send(&app, Method::POST, "/v1/routing/dry-run", Some(json!({"ticket_id": ticket_id}))).await;
    assert_eq!(status, StatusCode::OK, "{run}");
    assert_eq!(run["ruleset_version"], json!(1));
    assert_eq!(run["ticket_id"], json!(ticket_id));
    assert_eq!(run["decision"]["destination"], json!({"kind": "team", "team": team}));
    assert_eq!(run["decision"]["reason"], json!("rule `printers` routes it"));
    assert!(run["decision"]["add_tags"].is_null(), "the ticket has the rule's tag already: {run}");
    let outcomes: Vec<(String, String)> = run["decision"]["trace"]
        .as_array()
        .expect("trace")
        .iter()
        .map(|step| (step["rule"].as_str().expect("rule").into(), step["outcome"].as_str().expect("outcome").into()))
        .collect();
    assert_eq!(
        outcomes,
        [("vip", "not_matched"), ("printers", "matched"), ("old rule", "disabled")]
            .map(|(rule, outcome)| (rule.to_owned(), outcome.to_owned()))
    );
    assert_eq!(
        run["decision"]["trace"][0]["why"],
        json!("`tag:vip` does not hold: the ticket's tags are printer, hardware")
    );

    // A draft tried on a written-out ticket changes nothing stored.
    let draft = json!({
        "ruleset": {"rules": [{"name": "all to review", "when": "", "then": [{"kind": "flag_for_review"}]}]},
        "ticket": {"title": "Paper jam", "requester": {"email": "ana@example.com"}, "tags": ["vip"]},
        "urgency": "high"
    });
    let (status, run) = send(&app, Method::POST, "/v1/routing/dry-run", Some(draft)).await;
    assert_eq!(status, StatusCode::OK, "{run}");
    assert_eq!((run["ruleset_version"].clone(), run["ticket_id"].clone()), (Value::Null, Value::Null));
    assert_eq!(run["decision"]["destination"], json!({"kind": "review"}));
    let (_, listed) = send(&app, Method::GET, "/v1/routing/rulesets", None).await;
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(1), "a dry-run saves nothing");

    // A change is a new version; an old one can be made active again.
    let (status, second) = send(&app, Method::PUT, "/v1/routing/rulesets", Some(rules(other_team, other_team))).await;
    assert_eq!((status, second["version"].clone()), (StatusCode::CREATED, json!(2)));
    let (_, run) = send(&app, Method::POST, "/v1/routing/dry-run", Some(json!({"ticket_id": ticket_id}))).await;
    assert_eq!(run["decision"]["destination"], json!({"kind": "team", "team": other_team}));
    let (status, rolled_back) = send(&app, Method::POST, "/v1/routing/rulesets/1/activate", None).await;
    assert_eq!(
        (status, rolled_back["version"].clone(), rolled_back["active"].clone()),
        (StatusCode::OK, json!(1), json!(true))
    );
    let (_, active) = send(&app, Method::GET, "/v1/routing/rulesets/active", None).await;
    assert_eq!(active["version"], json!(1));
    let (_, listed) = send(&app, Method::GET, "/v1/routing/rulesets", None).await;
    let versions: Vec<(Value, Value)> = listed["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| (item["version"].clone(), item["active"].clone()))
        .collect();
    assert_eq!(versions, vec![(json!(2), json!(false)), (json!(1), json!(true))]);
    for missing in ["/v1/routing/rulesets/3", "/v1/routing/rulesets/first", "/v1/routing/rulesets/3/activate"] {
        let method = if missing.ends_with("activate") { Method::POST } else { Method::GET };
        let (status, body) = send(&app, method, missing, None).await;
        assert_eq!((status, body["error"]["code"].clone()), (StatusCode::NOT_FOUND, json!("not_found")), "{missing}");
    }
    app.running.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_rules_are_refused_with_where_the_fault_is() {
    use reqwest::Method;
    let app = spawn_app().await;
    let rule = |name: &str, when: &str| json!({"name": name, "when": when, "then": [{"kind": "flag_for_review"}]});
    let cases = [
        (
            json!({"rules": [rule("a", "tag:vip"), rule("b", "urgency>=hgh")]}),
            "invalid_query",
            "rules[1].when",
            Some(9),
        ),
        (json!({"rules": [rule("a", "(fire OR smoke")]}), "invalid_query", "rules[0].when", Some(14)),
        (json!({"rules": [rule("a", ""), rule("a", "")]}), "duplicate_name", "rules[1].name", None),
        (json!({"rules": [{"name": "a", "when": ""}]}), "missing_field", "rules[0].then", None),
        (
            json!({"rules": [{"name": "a", "when": "", "then": [{"kind": "route_to_team", "team": "0190b1c2-0000-7000-8000-00000000aaaa"}]}]}),
            "invalid_field",
            "rules[0].then[0].team",
            None,
        ),
        (
            json!({"rules": [{"name": "a", "when": "", "then": [{"kind": "assign", "account": "0190b1c2-0000-7000-8000-00000000aaaa"}]}]}),
            "invalid_field",
            "rules[0].then[0].account",
            None,
        ),
        (
            json!({"rules": [{"name": "a", "when": "", "then": [{"kind": "teleport"}]}]}),
            "invalid_field",
            "rules[0].then[0].kind",
            None,
        ),
    ];
    for (body, code, field, position) in cases {
        let (status, error) = send(&app, Method::PUT, "/v1/routing/rulesets", Some(body.clone())).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body} -> {error}");
        assert_eq!(error["error"]["code"], json!(code), "{body} -> {error}");
        assert_eq!(error["error"]["field"], json!(field), "{body} -> {error}");
        assert_eq!(error["error"]["position"], json!(position), "{body} -> {error}");
    }
    let draft = json!({"ruleset": {"rules": [rule("a", "created>tomorrow")]}, "ticket": {"title": "x", "requester": {"email": "a@b.co"}}});
    let (status, error) = send(&app, Method::POST, "/v1/routing/dry-run", Some(draft)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        (error["error"]["field"].clone(), error["error"]["position"].clone()),
        (json!("ruleset.rules[0].when"), json!(8))
    );
    let (status, error) = send(&app, Method::POST, "/v1/routing/dry-run", Some(json!({}))).await;
    assert_eq!((status, error["error"]["code"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!("invalid_field")));
    let (status, _) = send(
        &app,
        Method::POST,
        "/v1/routing/dry-run",
        Some(json!({"ticket_id": "0190b1c2-0000-7000-8000-000000000000"})),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, listed) = send(&app, Method::GET, "/v1/routing/rulesets", None).await;
    assert_eq!(listed["items"], json!([]), "nothing refused was saved");
    app.running.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_and_teams_are_checked_and_route_by_category() {
    use reqwest::Method;
    let app = spawn_app().await;
    let (status, desk) = send(
        &app,
        Method::POST,
        "/v1/servers",
        Some(json!({"name": "Desk EU", "region": "eu", "base_url": "http://desk.example/deliveries"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{desk}");
    let desk_id = desk["id"].as_str().expect("id").to_owned();
    let secret = desk["signing_secret"].as_str().expect("a secret was made").to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    let (_, listed) = send(&app, Method::GET, "/v1/servers", None).await;
    assert_eq!(listed["items"][0]["signing_secret"], Value::Null, "lists do not show secrets");
    // A change without a secret keeps it.
    let (status, changed) = send(
        &app,
        Method::PUT,
        &format!("/v1/servers/{desk_id}"),
        Some(json!({"name": "Desk EU", "base_url": "http://desk.example/in", "enabled": false})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!((changed["signing_secret"].as_str(), changed["enabled"].clone()), (Some(secret.as_str()), json!(false)));

    for (body, field) in [
        (json!({"name": "x", "base_url": "ftp://desk.example"}), "base_url"),
        (json!({"name": "x", "base_url": "http://user:pw@desk.example"}), "base_url"),
        // Private destinations are refused unless the configuration allows them.
        (json!({"name": "x", "base_url": "http://127.0.0.1:9/in"}), "base_url"),
        (json!({"name": "x", "base_url": "http://169.254.169.254/latest"}), "base_url"),
        (json!({"name": "x", "base_url": "http://localhost:9/in"}), "base_url"),
        (json!({"name": "x", "base_url": "desk.example"}), "base_url"),
        (json!({"name": " ", "base_url": "http://desk.example"}), "name"),
        (json!({"name": "x", "base_url": "http://desk.example", "signing_secret": "hunter2"}), "signing_secret"),
    ] {
        let (status, error) = send(&app, Method::POST, "/v1/servers", Some(body.clone())).await;
        assert_eq!(
            (status, error["error"]["field"].clone()),
            (StatusCode::UNPROCESSABLE_ENTITY, json!(field)),
            "{body}"
        );
    }
    let central = json!({"name": "HQ", "base_url": "http://hq.example/hq", "central": true});
    let (status, hq) = send(&app, Method::POST, "/v1/servers", Some(central.clone())).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, error) = send(&app, Method::POST, "/v1/servers", Some(central)).await;
    assert_eq!((status, error["error"]["code"].clone()), (StatusCode::CONFLICT, json!("central_taken")));

    // Teams: members are staff, servers are the company's and not central.
    let (status, error) =
        send(&app, Method::POST, "/v1/teams", Some(json!({"name": "Printers", "servers": [hq["id"]]}))).await;
    assert_eq!((status, error["error"]["field"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!("servers[0]")));
    let (status, error) = send(
        &app,
        Method::POST,
        "/v1/teams",
        Some(json!({"name": "Printers", "members": ["0190b1c2-0000-7000-8000-000000000001"]})),
    )
    .await;
    assert_eq!((status, error["error"]["field"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!("members[0]")));
    let team = json!({"name": "Printers", "categories": ["hardware", "printer"], "servers": [desk_id]});
    let (status, printers) = send(&app, Method::POST, "/v1/teams", Some(team.clone())).await;
    assert_eq!(status, StatusCode::CREATED, "{printers}");
    let (status, error) = send(&app, Method::POST, "/v1/teams", Some(team)).await;
    assert_eq!((status, error["error"]["code"].clone()), (StatusCode::CONFLICT, json!("already_exists")));
    let (status, error) = send(&app, Method::DELETE, &format!("/v1/servers/{desk_id}"), None).await;
    assert_eq!((status, error["error"]["code"].clone()), (StatusCode::CONFLICT, json!("server_in_use")));

    // With no rules, the category picks the team.
    let dry_run =
        |category: &str| json!({"ticket": {"title": "Jam", "requester": {"email": "a@b.co"}}, "category": category});
    let (_, run) = send(&app, Method::POST, "/v1/routing/dry-run", Some(dry_run("printer"))).await;
    assert_eq!(run["decision"]["destination"], json!({"kind": "team", "team": printers["id"]}));
    assert_eq!(run["decision"]["reason"], json!("no rule routes it; team `Printers` handles category `printer`"));
    let (_, run) = send(&app, Method::POST, "/v1/routing/dry-run", Some(dry_run("billing"))).await;
    assert_eq!(run["decision"]["destination"], json!({"kind": "central"}));

    let printers_id = printers["id"].as_str().expect("id");
    let (status, _) = send(&app, Method::DELETE, &format!("/v1/teams/{printers_id}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = send(&app, Method::DELETE, &format!("/v1/servers/{desk_id}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = send(&app, Method::GET, &format!("/v1/servers/{desk_id}"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    app.running.stop().await.expect("clean stop");
}
