//! A town set up by its own officer (issue #13): its own time zone, its own first status.

use crate::both_backends;
use crate::helpers::*;

both_backends!(
    a_named_time_zone_follows_daylight_saving_time,
    new_reports_start_in_the_citys_initial_status,
);

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
