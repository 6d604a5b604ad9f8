//! Store access over real sockets: every role against pull, push, live broadcast,
//! admin and the events endpoint; stores outside `mem`; `STORE_ACCESS=any-user`;
//! token and payload hygiene; the admin-secret limit.

use serde_json::{json, Value};
use shared::Role;

use crate::feed::FeedServer;
use crate::helpers::*;
use crate::tokens::*;

const STORE: &str = "inst-a";

fn token_for(role: Role) -> String {
    let user = format!("u-{role}");
    mint(&user, &format!("s-{role}"), &[(STORE, role)], 0, 0)
}

async fn admin_info(client: &mut Client, secret: &str) -> Value {
    client
        .send(json!({"_tag": "WSMessage.AdminInfoReq", "requestId": "adm", "adminSecret": secret}))
        .await;
    loop {
        let m = client.recv().await;
        if m["requestId"] == "adm" {
            return m;
        }
    }
}

#[tokio::test]
async fn every_role_against_pull_push_broadcast_admin_and_events() {
    let feed = FeedServer::start(keys()).await;
    let server = secure_server(&feed, &[]).await;
    let mut owner = server
        .connect(STORE, Some(&with_token(&token_for(Role::Owner))))
        .await
        .unwrap();
    let mut editor = server
        .connect(STORE, Some(&with_token(&token_for(Role::Editor))))
        .await
        .unwrap();
    let mut viewer = server
        .connect(STORE, Some(&with_token(&token_for(Role::Viewer))))
        .await
        .unwrap();
    for c in [&mut owner, &mut editor, &mut viewer] {
        c.pull("p0", None).await;
    }

    // Push: owner and editor are acked; every socket sees the broadcasts, with userId.
    for (seq, user) in [(1, "u-owner"), (2, "u-editor")] {
        let pusher = if seq == 1 { &mut owner } else { &mut editor };
        pusher.push("push", events(seq - 1, 1)).await;
        for c in [&mut owner, &mut editor, &mut viewer] {
            let m = c.recv_tag("WSMessage.PullRes").await;
            assert_eq!(m["requestId"]["context"], "push");
            assert_eq!(seqs(&m), vec![seq]);
            assert_eq!(m["batch"][0]["metadata"]["value"]["userId"], user);
        }
    }
    // The viewer's push is refused and nothing is stored.
    viewer.push("v1", events(2, 1)).await;
    assert_eq!(
        viewer.push_outcome("v1").await,
        Err("Forbidden: viewers cannot push to this store".into())
    );
    let stored = server.stored(STORE).await;
    assert_eq!(
        stored
            .iter()
            .map(|e| e.pushed_by.as_str())
            .collect::<Vec<_>>(),
        ["u-owner", "u-editor"]
    );

    // Pull: every role reads everything, attributed.
    for c in [&mut owner, &mut editor, &mut viewer] {
        let chunks = c.pull("p1", None).await;
        assert_eq!(all_seqs(&chunks), vec![1, 2]);
        let users: Vec<&Value> = chunks[0]["batch"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| &i["metadata"]["value"]["userId"])
            .collect();
        assert_eq!(users, [&json!("u-owner"), &json!("u-editor")]);
    }

    // Admin: only the owner (with the secret); the others are refused even with it.
    assert_eq!(
        admin_info(&mut owner, ADMIN).await["_tag"],
        "WSMessage.AdminInfoRes"
    );
    for c in [&mut editor, &mut viewer] {
        let m = admin_info(c, ADMIN).await;
        assert_eq!(m["_tag"], "WSMessage.Error");
        assert_eq!(
            m["message"],
            "Forbidden: admin messages need the owner role on this store"
        );
    }
    let mut internal = server
        .connect(STORE, Some(&json!({"serverBypass": BYPASS})))
        .await
        .unwrap();
    assert_eq!(
        admin_info(&mut internal, ADMIN).await["_tag"],
        "WSMessage.AdminInfoRes"
    );
    assert_eq!(
        admin_info(&mut owner, "wrong").await["message"],
        "Invalid admin secret"
    );

    // Events endpoint: any member role reads; others are refused.
    for role in Role::ALL {
        let (status, body) = events_api(&server, STORE, "", Some(&token_for(role))).await;
        assert_eq!(status, 200, "{role}: {body}");
        assert_eq!(body["head"], 2);
        let first = &body["events"][0];
        assert_eq!(first["seqNum"], 1);
        assert_eq!(first["userId"], "u-owner");
        assert_eq!(first["name"], "todoCreated");
        assert_eq!(first["clientId"], "client-a");
        assert_eq!(first["sessionId"], "session-a");
        assert_eq!(first["args"], json!({"id": "t1", "text": "buy milk"}));
        assert!(first["createdAt"].as_str().unwrap().ends_with('Z'));
        assert_eq!(body["events"][1]["userId"], "u-editor");
    }
    let outsider = mint("u-out", "s-out", &[("inst-b", Role::Owner)], 0, 0);
    let (status, body) = events_api(&server, STORE, "", Some(&outsider)).await;
    assert_eq!((status, code(&body)), (403, "STORE_FORBIDDEN"));
    let (status, body) = events_api(&server, STORE, "", None).await;
    assert_eq!((status, code(&body)), (401, "TOKEN_MISSING"));
    let (status, body) = events_api(&server, STORE, "", Some("garbage")).await;
    assert_eq!((status, code(&body)), (401, "TOKEN_INVALID"));
    assert_eq!(
        feed.bad_tokens(),
        0,
        "the feed accepted every service token"
    );
    assert!(feed.polls() >= 1);
    server.stop().await;
}

#[tokio::test]
async fn events_endpoint_pages_and_checks_its_query() {
    let feed = FeedServer::start(keys()).await;
    let server = secure_server(&feed, &[]).await;
    let owner = token_for(Role::Owner);
    let mut client = server
        .connect(STORE, Some(&with_token(&owner)))
        .await
        .unwrap();
    client.push_acked("p", events(0, 5)).await;
    let (status, body) = events_api(&server, STORE, "?after=1&limit=2", Some(&owner)).await;
    assert_eq!(status, 200);
    let seqs: Vec<u64> = body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seqNum"].as_u64().unwrap())
        .collect();
    assert_eq!((seqs, body["head"].clone()), (vec![2, 3], json!(5)));
    let (_, body) = events_api(&server, STORE, "?after=5", Some(&owner)).await;
    assert_eq!(body, json!({"events": [], "head": 5}));
    for bad in ["?limit=0", "?limit=1001", "?after=-1", "?after=x"] {
        let (status, body) = events_api(&server, STORE, bad, Some(&owner)).await;
        assert_eq!((status, code(&body)), (400, "INVALID_REQUEST"), "{bad}");
    }
    // Development mode: open without a token.
    let dev = TestServer::spawn(&[]).await;
    let (status, body) = events_api(&dev, "anything", "", None).await;
    assert_eq!((status, body), (200, json!({"events": [], "head": 0})));
    dev.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn a_store_outside_mem_is_forbidden_and_nothing_is_stored() {
    let feed = FeedServer::start(keys()).await;
    let server = secure_server(&feed, &[]).await;
    let token = mint("u1", "s1", &[(STORE, Role::Owner)], 0, 0);
    for store in ["inst-b", "unknown-store"] {
        let (status, body) = refused(&server, store, &with_token(&token)).await;
        assert_eq!(
            (status, body),
            (
                403,
                json!({"code": "STORE_FORBIDDEN", "message": "Access to this store is not allowed"})
            )
        );
        assert!(server.stored(store).await.is_empty());
    }
    // No `mem` at all (a token from before workspaces): every store is forbidden.
    let bare = mint("u1", "s1", &[], 0, 0);
    assert_eq!(refused(&server, STORE, &with_token(&bare)).await.0, 403);
    // The bypass opens any store.
    let mut internal = server
        .connect("inst-b", Some(&json!({"serverBypass": BYPASS})))
        .await
        .unwrap();
    internal.push_acked("p", events(0, 1)).await;
    assert_eq!(
        server.stored("inst-b").await[0].pushed_by,
        "server-internal"
    );
    server.stop().await;
}

#[tokio::test]
async fn any_user_mode_opens_any_store_as_editor_or_the_claimed_role() {
    let feed = FeedServer::start(keys()).await;
    let server = secure_server(&feed, &[("STORE_ACCESS", "any-user")]).await;
    let token = mint("u1", "s1", &[(STORE, Role::Viewer)], 0, 0);
    let mut free = server
        .connect("free-store", Some(&with_token(&token)))
        .await
        .unwrap();
    free.push_acked("p", events(0, 1)).await;
    let mut viewer = server
        .connect(STORE, Some(&with_token(&token)))
        .await
        .unwrap();
    viewer.push("v", events(0, 1)).await;
    assert!(viewer.push_outcome("v").await.is_err());
    let mut late = server
        .connect(
            "free-store",
            Some(&with_token(&mint("u2", "s2", &[], 0, 0))),
        )
        .await
        .unwrap();
    assert_eq!(all_seqs(&late.pull("r", None).await), vec![1]);
    server.stop().await;
}

#[tokio::test]
async fn empty_sub_is_401_and_duplicate_payload_keys_are_400() {
    let feed = FeedServer::start(keys()).await;
    let server = secure_server(&feed, &[]).await;
    let keys = keys();
    let mut claims = keys.access_claims(
        "",
        "e@x",
        "s",
        std::time::Duration::from_secs(900),
        chrono::Utc::now(),
    );
    claims.mem.insert(STORE.into(), Role::Owner);
    let empty = keys.sign_access_token(&claims).unwrap();
    let (status, body) = refused(&server, STORE, &with_token(&empty)).await;
    assert_eq!((status, code(&body)), (401, "TOKEN_INVALID"));

    // `authToken` garbage-then-valid used to connect with the last one.
    let valid = token_for(Role::Owner);
    let raw = format!(r#"{{"authToken":"garbage","authToken":"{valid}"}}"#);
    let url = format!(
        "ws://{}/websocket?storeId={STORE}&payload={}",
        server.addr,
        encode(&raw)
    );
    match tokio_tungstenite::connect_async(url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status().as_u16(), 400);
            let body: Value = serde_json::from_slice(response.body().as_deref().unwrap()).unwrap();
            assert_eq!(
                body,
                json!({"code": "INVALID_REQUEST", "message": "payload must not repeat a key"})
            );
        }
        other => panic!("expected 400, got {other:?}"),
    }
    assert!(server.stored(STORE).await.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn five_wrong_admin_secrets_close_the_connection_with_1008() {
    let feed = FeedServer::start(keys()).await;
    let server = secure_server(&feed, &[]).await;
    let mut owner = server
        .connect(STORE, Some(&with_token(&token_for(Role::Owner))))
        .await
        .unwrap();
    for attempt in 1..=5 {
        let m = admin_info(&mut owner, &format!("wrong-{attempt}")).await;
        assert_eq!(m["message"], "Invalid admin secret", "attempt {attempt}");
    }
    match owner.until_end().await {
        Ended::Closed(Some(frame)) => {
            assert_eq!(u16::from(frame.code), 1008);
            assert_eq!(frame.reason.as_str(), "too many wrong admin secrets");
        }
        other => panic!("expected a 1008 close, got {other:?}"),
    }
    // A fresh connection starts with a clean count, and the right secret works.
    let mut again = server
        .connect(STORE, Some(&with_token(&token_for(Role::Owner))))
        .await
        .unwrap();
    assert_eq!(
        admin_info(&mut again, ADMIN).await["_tag"],
        "WSMessage.AdminInfoRes"
    );
    server.stop().await;
}
