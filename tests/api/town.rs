//! A town set up by its own officer (issue #13): its own time zone, its own first status.

use crate::both_backends;
use crate::helpers::*;

both_backends!(
    a_named_time_zone_follows_daylight_saving_time,
    new_reports_start_in_the_citys_initial_status,
    a_boundary_file_with_swapped_coordinates_is_refused,
    a_dry_run_tells_what_would_change_and_changes_nothing,
    department_mail_and_note_summaries_speak_the_citys_language,
);
// A town's own server: nothing imported before the guide's steps.
both_backends!(backend: the_set_up_guide_works_as_written,);

/// The demo city's files with `edit` applied to city.toml, in a folder of their own.
fn demo_with(edit: impl Fn(String) -> String) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&repo_path("examples/demo-city"), dir.path());
    let city = dir.path().join("city.toml");
    std::fs::write(&city, edit(std::fs::read_to_string(&city).unwrap())).unwrap();
    dir
}

async fn import(app: &TestApp, dir: &tempfile::TempDir) -> Result<(), String> {
    let store = app.store.clone();
    let path = dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || civic311::import::import_dir(&store, &path))
        .await
        .unwrap()
        .map(|_| ())
        .map_err(|e| e.to_string())
}

async fn a_named_time_zone_follows_daylight_saving_time(app: TestApp) {
    // Refused: a name that is not a zone, and a zone beside a fixed offset.
    let err = import(
        &app,
        &demo_with(|c| c.replace("utc_offset = \"+07:00\"", "timezone = \"Europe/Pariss\"")),
    )
    .await
    .unwrap_err();
    assert!(
        err.contains("timezone Europe/Pariss is not an IANA time zone"),
        "{err}"
    );
    let err = import(
        &app,
        &demo_with(|c| {
            c.replace(
                "utc_offset = \"+07:00\"",
                "utc_offset = \"+07:00\"\ntimezone = \"Asia/Jakarta\"",
            )
        }),
    )
    .await
    .unwrap_err();
    assert!(err.contains("not both"), "{err}");

    import(
        &app,
        &demo_with(|c| c.replace("utc_offset = \"+07:00\"", "timezone = \"Europe/Paris\"")),
    )
    .await
    .unwrap();
    let winter = app.post_flood(&[]).await;
    let summer = app.post_flood(&[]).await;
    // The clock the test controls: one report made in January, one in July (stored in UTC).
    app.sql(&format!(
        "UPDATE requests SET requested_at = '2026-01-15 10:00:00', updated_at = '2026-01-15 10:00:00' WHERE id = {winter}"
    ))
    .await;
    app.sql(&format!(
        "UPDATE requests SET requested_at = '2026-07-15 10:00:00', updated_at = '2026-07-15 10:00:00' WHERE id = {summer}"
    ))
    .await;
    for (id, shown) in [
        (&winter, "2026-01-15T11:00:00+01:00"),
        (&summer, "2026-07-15T12:00:00+02:00"),
    ] {
        let r = app
            .get_json(&format!("/open311/v2/requests/{id}.json"))
            .await;
        assert_eq!(r[0]["requested_datetime"], shown);
        assert_eq!(r[0]["updated_datetime"], shown);
        let xml = app.get_xml(&format!("/open311/v2/requests/{id}.xml")).await;
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let requested = doc
            .descendants()
            .find(|n| n.has_tag_name("requested_datetime"))
            .and_then(|n| n.text());
        assert_eq!(requested, Some(shown));
    }
    // Staff read the same times, and so does an operator at the command line.
    app.staff_user("rina", "dispatcher", &[]).await;
    let t = token(&app.sign_in("rina").await);
    let (_, staff) = app
        .call(
            "GET",
            &format!("/staff/v1/requests/{winter}"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(staff["requested_datetime"], "2026-01-15T11:00:00+01:00");
    let shown = app.run_cli(&["request", &summer]);
    assert!(shown.contains("2026-07-15T12:00:00+02:00"), "{shown}");
    // The data dictionary names the zone.
    let dictionary = app.get_json("/open311/v2/dictionary.json").await;
    assert!(
        dictionary.to_string().contains("Europe/Paris"),
        "{dictionary}"
    );
}

/// A French town's vocabulary, with no status called `open`.
const FRENCH: &str = r#"
[[statuses]]
code = "recu"
name = "Reçu"
closed = false

[[statuses]]
code = "en_cours"
name = "En cours de traitement"
closed = false

[[statuses]]
code = "resolu"
name = "Résolu"
closed = true

[[statuses]]
code = "rejete"
name = "Rejeté"
closed = true

"#;

/// city.toml with its vocabulary replaced by `statuses`.
fn with_statuses(city: String, statuses: &str) -> String {
    let start = city.find("[[statuses]]").unwrap();
    let end = city.find("# A back-office system").unwrap();
    format!("{}{statuses}{}", &city[..start], &city[end..])
}

async fn new_reports_start_in_the_citys_initial_status(app: TestApp) {
    import(&app, &demo_with(|c| with_statuses(c, FRENCH)))
        .await
        .unwrap();
    let id = app.post_flood(&[]).await;
    let r = app
        .get_json(&format!("/open311/v2/requests/{id}.json?extensions=true"))
        .await;
    assert_eq!(r[0]["status"], "open");
    assert_eq!(r[0]["extended_attributes"]["detailed_status"], "recu");
    app.staff_user("rina", "dispatcher", &[]).await;
    let t = token(&app.sign_in("rina").await);
    let (_, listed) = app
        .call(
            "GET",
            "/staff/v1/requests?detailed_status=recu",
            Some(&t),
            None,
        )
        .await;
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    // Staff may set it back to its first status.
    app.set_status(&t, &id, "en_cours").await;
    app.set_status(&t, &id, "recu").await;

    // A vocabulary may name its initial status.
    import(
        &app,
        &demo_with(|c| {
            with_statuses(
                c,
                &FRENCH.replace(
                    "code = \"en_cours\"\n",
                    "code = \"en_cours\"\ninitial = true\n",
                ),
            )
        }),
    )
    .await
    .unwrap();
    let id = app.post_flood(&[]).await;
    let r = app
        .get_json(&format!("/open311/v2/requests/{id}.json?extensions=true"))
        .await;
    assert_eq!(r[0]["extended_attributes"]["detailed_status"], "en_cours");
    // Refused: a closed initial status, and two of them.
    let err = import(
        &app,
        &demo_with(|c| {
            with_statuses(
                c,
                &FRENCH
                    .replace("code = \"resolu\"\n", "code = \"resolu\"\ninitial = true\n")
                    .replace("code = \"recu\"\n", "code = \"recu\"\ninitial = true\n"),
            )
        }),
    )
    .await
    .unwrap_err();
    assert!(err.contains("must be an open one"), "{err}");
    assert!(err.contains("marks recu and resolu as initial"), "{err}");
}

/// A square area around (lon, lat), `d` degrees wide, as GeoJSON positions in the order given.
fn square(code: &str, lon: f64, lat: f64, d: f64, swapped: bool) -> serde_json::Value {
    let ring: Vec<[f64; 2]> = [(0.0, 0.0), (d, 0.0), (d, d), (0.0, d), (0.0, 0.0)]
        .iter()
        .map(|(x, y)| {
            if swapped {
                [lat + y, lon + x]
            } else {
                [lon + x, lat + y]
            }
        })
        .collect();
    serde_json::json!({
        "type": "Feature",
        "properties": {"code": code, "name": code},
        "geometry": {"type": "Polygon", "coordinates": [ring]},
    })
}

fn write_town(dir: &std::path::Path, features: Vec<serde_json::Value>) {
    std::fs::create_dir_all(dir.join("areas")).unwrap();
    std::fs::write(
        dir.join("town.toml"),
        r#"
[[jurisdictions]]
id = "annecy.example.fr"
name = "Annecy (test)"
contact = "mairie"
key_service = "ask the mairie"
timezone = "Europe/Paris"
language = "fr"
bbox = [5.9, 45.7, 6.4, 46.1]

[[area_layers]]
jurisdiction = "annecy.example.fr"
layer = "communes"
file = "areas/communes.geojson"
code_property = "code"
name_property = "name"
"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("areas/communes.geojson"),
        serde_json::json!({"type": "FeatureCollection", "features": features}).to_string(),
    )
    .unwrap();
}

async fn a_boundary_file_with_swapped_coordinates_is_refused(app: TestApp) {
    let dir = tempfile::tempdir().unwrap();
    write_town(
        dir.path(),
        vec![
            square("74010", 6.10, 45.88, 0.05, false),
            square("74011", 6.15, 45.88, 0.05, false),
        ],
    );
    let store = app.store.clone();
    let path = dir.path().to_path_buf();
    let summary = tokio::task::spawn_blocking(move || civic311::import::import_dir(&store, &path))
        .await
        .unwrap()
        .unwrap();
    // The import reports each layer's extent, to be checked against the map.
    assert_eq!(summary.layers.len(), 1);
    assert_eq!(summary.layers[0].areas, 2);
    assert_eq!(summary.layers[0].bbox, [6.10, 45.88, 6.20, 45.93]);
    let shown = summary.layers[0].to_string();
    assert!(
        shown.contains("communes: 2 areas within [6.10000, 45.88000, 6.20000, 45.93000]"),
        "{shown}"
    );

    // The same file written [lat, lon]: still valid WGS84, refused with the reason.
    write_town(
        dir.path(),
        vec![
            square("74010", 6.10, 45.88, 0.05, true),
            square("74011", 6.15, 45.88, 0.05, true),
        ],
    );
    let err = import(&app, &dir).await.unwrap_err();
    assert!(err.contains("the coordinate order looks swapped"), "{err}");
    assert!(err.contains("2 of 2 areas"), "{err}");
    // Nothing changed.
    let areas = app
        .store
        .read(|c| civic311::store::routing::area_rows_of_layer(c, "annecy.example.fr", "communes"))
        .await
        .unwrap();
    assert_eq!(areas.len(), 2);
    assert!(areas.iter().all(|a| a.min_lon >= 6.0 && a.min_lat >= 45.0));

    // An area simply elsewhere (Paris) is named, without the swap hint.
    write_town(
        dir.path(),
        vec![
            square("74010", 6.10, 45.88, 0.05, false),
            square("75056", 2.30, 48.80, 0.05, false),
        ],
    );
    let err = import(&app, &dir).await.unwrap_err();
    assert!(err.contains("area 75056"), "{err}");
    assert!(
        err.contains("lies outside the jurisdiction's bbox"),
        "{err}"
    );
    assert!(!err.contains("swapped"), "{err}");
}

async fn a_dry_run_tells_what_would_change_and_changes_nothing(app: TestApp) {
    // Two flood reports in Jakarta Pusat (its own water department) and a street light.
    let a = app.post_flood(&[]).await;
    let b = app.post_flood(&[]).await;
    let lamp: serde_json::Value = app
        .post_form("json", &light(&[]))
        .await
        .json()
        .await
        .unwrap();
    let lamp = lamp[0]["service_request_id"].as_str().unwrap().to_string();
    assert_eq!(
        app.stored(&a).await.department_code.as_deref(),
        Some("SDA-JP")
    );
    // The officer's change: Jakarta Pusat's floods go to the city's water department.
    let dir = demo_with(|c| c);
    let routing = dir.path().join("routing.toml");
    let text = std::fs::read_to_string(&routing).unwrap();
    std::fs::write(
        &routing,
        text.replace(
            "id = \"flood-jakpus\"\nservice = \"FLOOD\"\narea = \"31.71\"\ndepartment = \"SDA-JP\"",
            "id = \"flood-jakpus\"\nservice = \"FLOOD\"\narea = \"31.71\"\ndepartment = \"SDA\"",
        ),
    )
    .unwrap();
    // A report staff moved by hand is not what the files change: a dry run of the same files counts none.
    app.staff_user("rina", "dispatcher", &[]).await;
    let t = token(&app.sign_in("rina").await);
    let (code, _) = app
        .call(
            "POST",
            &format!("/staff/v1/requests/{lamp}/assign"),
            Some(&t),
            Some(serde_json::json!({"department": "SDA", "why": "the lamp stands in a canal"})),
        )
        .await;
    assert_eq!(code, 200);
    let same = demo_with(|c| c);
    let out = app.run_cli(&["import", "--dry-run", &same.path().to_string_lossy()]);
    assert!(
        out.contains("jakarta.go.id: 0 open report(s) would now route"),
        "{out}"
    );
    // A typo in a code is refused with its likely fix.
    let typo = demo_with(|c| c);
    let typo_routing = typo.path().join("routing.toml");
    std::fs::write(
        &typo_routing,
        std::fs::read_to_string(&routing)
            .unwrap()
            .replace("department = \"SDA-JU\"", "department = \"SDA-UJ\""),
    )
    .unwrap();
    let err = import(&app, &typo).await.unwrap_err();
    assert!(
        err.contains("department SDA-UJ is not defined; did you mean SDA-JU?"),
        "{err}"
    );
    let path = dir.path().to_string_lossy().to_string();
    let out = app.run_cli(&["import", "--dry-run", &path]);
    assert!(out.contains("dry run, nothing was changed"), "{out}");
    assert!(
        out.contains("rule sets: 0 created, 1 updated, 0 unchanged"),
        "{out}"
    );
    assert!(
        out.contains("jakarta.go.id: 2 open report(s) would now route to another department"),
        "{out}"
    );
    // Nothing changed: the stored rule, and where a new flood report goes.
    let rules = app
        .store
        .read(|c| civic311::store::routing::rule_rows(c, "jakarta.go.id"))
        .await
        .unwrap();
    let rule = rules.iter().find(|r| r.id == "flood-jakpus").unwrap();
    assert_eq!(rule.department_code, "SDA-JP");
    let c = app.post_flood(&[]).await;
    assert_eq!(
        app.stored(&c).await.department_code.as_deref(),
        Some("SDA-JP")
    );
    assert_eq!(
        app.stored(&b).await.department_code.as_deref(),
        Some("SDA-JP")
    );
    // The import itself then does what the dry run said.
    let out = app.run_cli(&["import", &path]);
    assert!(out.contains("imported"), "{out}");
    assert!(
        out.contains("rule sets: 0 created, 1 updated, 0 unchanged"),
        "{out}"
    );
    // Another process imported: the server sees the new catalogue within a second or so.
    let mut routed = None;
    for _ in 0..20 {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let d = app.post_flood(&[]).await;
        routed = app.stored(&d).await.department_code;
        if routed.as_deref() == Some("SDA") {
            break;
        }
    }
    assert_eq!(routed.as_deref(), Some("SDA"));
}

/// The server's words in French, as a town adds them: a file of its own, no release.
const FRENCH_TEXTS: &str = r#"
[texts.fr]
"mail.report_for" = "Un signalement pour {department}."
"mail.reference" = "Numero de suivi"
"mail.description" = "Description du signalement"
"note.status" = "Statut : {status}"
"note.opened" = "Signalement recu"
"#;

async fn department_mail_and_note_summaries_speak_the_citys_language(app: TestApp) {
    let dir =
        demo_with(|c| with_statuses(c, FRENCH).replace("language = \"en\"", "language = \"fr\""));
    let texts = dir.path().join("langues/fr.toml");
    std::fs::create_dir_all(texts.parent().unwrap()).unwrap();
    // A misspelt key and a lost placeholder are refused, each with what to fix.
    std::fs::write(
        &texts,
        FRENCH_TEXTS
            .replace("\"mail.reference\"", "\"mail.referense\"")
            .replace("pour {department}.", "pour le service."),
    )
    .unwrap();
    let err = import(&app, &dir).await.unwrap_err();
    assert!(
        err.contains(
            "mail.referense is not one of the server's texts; did you mean mail.reference?"
        ),
        "{err}"
    );
    assert!(
        err.contains("mail.report_for must keep {department}"),
        "{err}"
    );
    // A misspelt language, and a key given in two files, are refused.
    std::fs::write(&texts, FRENCH_TEXTS.replace("[texts.fr]", "[texts.fe]")).unwrap();
    let err = import(&app, &dir).await.unwrap_err();
    assert!(
        err.contains("texts in fe would be used by nothing; did you mean fr?"),
        "{err}"
    );
    std::fs::write(&texts, FRENCH_TEXTS).unwrap();
    std::fs::write(
        dir.path().join("langues/encore.toml"),
        "[texts.fr]\n\"note.update\" = \"Nouvelles\"\n\"note.status\" = \"Etat : {status}\"\n",
    )
    .unwrap();
    let err = import(&app, &dir).await.unwrap_err();
    assert!(err.contains("note.status is given twice in fr"), "{err}");
    std::fs::remove_file(dir.path().join("langues/encore.toml")).unwrap();
    // The French file the project ships imports as it is.
    std::fs::copy(repo_path("examples/texts/fr.toml"), &texts).unwrap();
    import(&app, &dir).await.unwrap();
    std::fs::write(&texts, FRENCH_TEXTS).unwrap();
    import(&app, &dir).await.unwrap();

    let id = app
        .post_flood(&[("description", "Air setinggi lutut")])
        .await;
    let (worker, mailbox) = app.memory_worker();
    worker.drain().await.unwrap();
    let mail = mailbox.messages();
    let raw = &mail
        .iter()
        .find(|m| m.raw.contains(&format!("#{id}]")))
        .unwrap_or_else(|| panic!("no mail for {id}"))
        .raw;
    assert!(raw.contains("Un signalement pour "), "{raw}");
    assert!(raw.contains(&format!("Numero de suivi: {id}")), "{raw}");
    assert!(raw.contains("Description du signalement"), "{raw}");
    // What the town did not translate falls back to English.
    assert!(raw.contains("Service:"), "{raw}");

    // Note summaries use the vocabulary's own label, not the code.
    app.staff_user("rina", "dispatcher", &[]).await;
    let t = token(&app.sign_in("rina").await);
    app.set_status(&t, &id, "en_cours").await;
    let r = app
        .get_json(&format!("/open311/v2/requests/{id}.json?extensions=true"))
        .await;
    let summaries: Vec<&str> = r[0]["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["summary"].as_str().unwrap())
        .collect();
    assert_eq!(
        summaries,
        ["Signalement recu", "Statut : En cours de traitement"]
    );
}

/// The blocks of docs/IMPORT.md's guide, in order: (the file it names, if any, its language, its text).
fn guide_blocks() -> Vec<(Option<String>, String, String)> {
    let doc = std::fs::read_to_string(repo_path("docs/IMPORT.md")).unwrap();
    let start = doc.find("## Set up your own city, step by step").unwrap();
    let rest = &doc[start + 3..];
    let section = &rest[..rest.find("\n## ").unwrap_or(rest.len())];
    let mut blocks = Vec::new();
    let mut named: Option<String> = None;
    let mut lines = section.lines();
    while let Some(line) = lines.next() {
        if let Some(lang) = line.strip_prefix("```") {
            let mut text = String::new();
            for l in lines.by_ref() {
                if l == "```" {
                    break;
                }
                text.push_str(l);
                text.push('\n');
            }
            blocks.push((named.take(), lang.to_string(), text));
        } else if line.starts_with('`') && line.ends_with("`:") {
            named = Some(line.trim_matches(|c| c == '`' || c == ':').to_string());
        }
    }
    blocks
}

async fn the_set_up_guide_works_as_written(backend: Backend) {
    let app = spawn_app_with(backend, &[]).await;
    let work = tempfile::tempdir().unwrap();
    // The officer's shell: `civic311` on the PATH (on this test's database), the project's examples
    // beside, the national boundary file from the shared data.
    let bin = work.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_civic311"), bin.join("civic311")).unwrap();
    std::os::unix::fs::symlink(repo_path("examples"), work.path().join("examples")).unwrap();
    let france = repo_path("../shared/data/france-communes.geojson");
    assert!(
        france.exists(),
        "{} is needed by this test",
        france.display()
    );
    let shell = |script: &str| {
        let mut cmd = std::process::Command::new("bash");
        cmd.arg("-euc")
            .arg(script)
            .current_dir(work.path())
            .env(
                "PATH",
                format!(
                    "{}:{}",
                    bin.display(),
                    std::env::var("PATH").unwrap_or_default()
                ),
            )
            .env("FRANCE_COMMUNES", &france);
        app.run_for_stdout(cmd, script)
    };
    let mut said = String::new();
    let mut key = None;
    for (file, lang, text) in guide_blocks() {
        match (file, lang.as_str()) {
            (Some(path), _) => {
                let to = work.path().join(path);
                std::fs::create_dir_all(to.parent().unwrap()).unwrap();
                std::fs::write(to, text).unwrap();
            }
            (None, "sh") => {
                let out = shell(&text);
                if text.contains("apikey create") {
                    key = out.lines().nth(1).map(str::to_string);
                }
                said.push_str(&out);
            }
            _ => {}
        }
    }
    assert!(said.contains("7 communes"), "{said}");
    assert!(said.contains("dry run, nothing was changed"), "{said}");
    assert!(
        said.contains("annecy.fr / communes: 7 areas within"),
        "{said}"
    );
    assert!(said.contains("imported annecy"), "{said}");
    let key = key.expect("the key the guide's command printed");

    // Step 6: a pothole in Talloires-Montmin goes to its own services.
    let resp = app
        .client
        .post(app.url("/open311/v2/requests.json"))
        .form(&[
            ("api_key", key.as_str()),
            ("jurisdiction_id", "annecy.fr"),
            ("service_code", "NIDS"),
            ("lat", "45.84"),
            ("long", "6.22"),
            ("description", "Un trou profond devant l'école"),
        ])
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let ack: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(status, 200, "{ack}");
    let id = ack[0]["service_request_id"].as_str().unwrap().to_string();
    let shown = app.run_cli(&["request", &id]);
    assert!(shown.contains("voirie-talloires"), "{shown}");
    assert!(
        shown.contains("department: Services techniques de Talloires-Montmin"),
        "{shown}"
    );
    let r = app
        .get_json(&format!("/open311/v2/requests/{id}.json?extensions=true"))
        .await;
    assert_eq!(r[0]["extended_attributes"]["detailed_status"], "recu");
    let requested = r[0]["requested_datetime"].as_str().unwrap();
    assert!(
        requested.ends_with("+01:00") || requested.ends_with("+02:00"),
        "{requested}"
    );
    // The dispatcher the guide made signs in.
    let (code, _) = app
        .call(
            "POST",
            "/staff/v1/session",
            None,
            Some(serde_json::json!({"username": "marie", "password": "lac-annecy-2026"})),
        )
        .await;
    assert_eq!(code, 200);
}
