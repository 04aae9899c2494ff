//! The name a room without `m.room.name` or alias goes by, from its heroes (the members the
//! server picks to name it), as the spec's display-name rules and clients have it: "Alice",
//! "Alice and Bob", "Alice, Bob and 3 others". A DM shows the other person.

use std::collections::BTreeMap;

use serde_json::Value as JsonValue;

/// A member naming a room: their user ID and display name, if they set one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hero {
    /// `@alice:example.org`
    pub user_id: String,
    /// `Alice`
    pub displayname: Option<String>,
}

impl Hero {
    fn shown(&self) -> &str {
        self.displayname
            .as_deref()
            .filter(|name| !name.trim().is_empty())
            .unwrap_or(&self.user_id)
    }
}

/// The name of a room whose heroes are `heroes`, with `members` joined and invited members in
/// all (the user among them); `None` when it has no heroes (the user alone).
pub fn name_from_heroes(heroes: &[Hero], members: Option<u64>) -> Option<String> {
    let names: Vec<&str> = heroes.iter().map(Hero::shown).collect();
    let shown = u64::try_from(names.len()).unwrap_or(u64::MAX);
    // The others: every member but the user and the heroes named.
    let others = members.map_or(0, |members| members.saturating_sub(shown + 1));
    match (names.as_slice(), others) {
        ([], _) => None,
        ([one], 0) => Some((*one).to_owned()),
        ([first, second], 0) => Some(format!("{first} and {second}")),
        (names, 0) => {
            let (last, rest) = names.split_last()?;
            Some(format!("{} and {last}", rest.join(", ")))
        }
        (names, others) => Some(format!(
            "{} and {others} other{}",
            names.join(", "),
            if others == 1 { "" } else { "s" }
        )),
    }
}

/// The heroes of a `/sync` room: its summary's `m.heroes`, named by their `m.room.member`
/// state events where the answer has them (lazy-loaded members include the heroes').
pub(crate) fn heroes_of_sync(summary: &JsonValue, state: &JsonValue) -> Vec<Hero> {
    let members = state.as_array().map_or(&[][..], Vec::as_slice);
    summary["m.heroes"]
        .as_array()
        .map_or(&[][..], Vec::as_slice)
        .iter()
        .filter_map(JsonValue::as_str)
        .map(|user_id| Hero {
            user_id: user_id.to_owned(),
            displayname: members
                .iter()
                .rev()
                .find(|event| event["type"] == "m.room.member" && event["state_key"] == user_id)
                .and_then(|event| event["content"]["displayname"].as_str())
                .map(str::to_owned),
        })
        .collect()
}

/// What a room's name comes from, as a listener's syncs tell it bit by bit: its alias and name,
/// its heroes and how many members it has (a summary gives only what changed), and the display
/// names of the members seen. Kept for the listener's life, so that the name follows the room:
/// "alice" becomes "alice, pingbot and bob" when two more join.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoomNaming {
    alias: Option<String>,
    name: Option<String>,
    heroes: Vec<String>,
    displaynames: BTreeMap<String, String>,
    joined: Option<u64>,
    invited: Option<u64>,
}

impl RoomNaming {
    /// Takes what one `/sync` room brings (`{summary, events}`: its summary, and the state and
    /// timeline events that name it, in order).
    pub fn absorb(&mut self, room: &JsonValue) {
        let summary = &room["summary"];
        if let Some(heroes) = summary["m.heroes"].as_array() {
            self.heroes = heroes
                .iter()
                .filter_map(JsonValue::as_str)
                .map(str::to_owned)
                .collect();
        }
        if let Some(joined) = summary["m.joined_member_count"].as_u64() {
            self.joined = Some(joined);
        }
        if let Some(invited) = summary["m.invited_member_count"].as_u64() {
            self.invited = Some(invited);
        }
        for event in room["events"].as_array().map_or(&[][..], Vec::as_slice) {
            let Some(key) = event["state_key"].as_str() else {
                continue;
            };
            let text = |field: &str| {
                event["content"][field]
                    .as_str()
                    .filter(|text| !text.trim().is_empty())
                    .map(str::to_owned)
            };
            match event["type"].as_str() {
                Some("m.room.canonical_alias") if key.is_empty() => self.alias = text("alias"),
                Some("m.room.name") if key.is_empty() => self.name = text("name"),
                Some("m.room.member") => match text("displayname") {
                    Some(name) => {
                        self.displaynames.insert(key.to_owned(), name);
                    }
                    None => {
                        self.displaynames.remove(key);
                    }
                },
                _ => {}
            }
        }
    }

    /// The room's name: its alias, else its name, else from its heroes (`None` when alone).
    pub fn name(&self) -> Option<String> {
        self.alias
            .clone()
            .or_else(|| self.name.clone())
            .or_else(|| {
                let heroes: Vec<Hero> = self
                    .heroes
                    .iter()
                    .map(|user_id| Hero {
                        user_id: user_id.clone(),
                        displayname: self.displaynames.get(user_id).cloned(),
                    })
                    .collect();
                let members = self.joined.map(|joined| joined + self.invited.unwrap_or(0));
                name_from_heroes(&heroes, members)
            })
    }
}

/// Whether a `/sync` event names a room: its alias, its name, a member.
pub(crate) fn names_room(event: &JsonValue) -> bool {
    matches!(
        event["type"].as_str(),
        Some("m.room.canonical_alias" | "m.room.name" | "m.room.member")
    ) && event["state_key"].is_string()
}

/// The members a `/sync` summary counts (joined and invited), if it says.
pub(crate) fn members_of_sync(summary: &JsonValue) -> Option<u64> {
    let joined = summary["m.joined_member_count"].as_u64()?;
    Some(joined + summary["m.invited_member_count"].as_u64().unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn hero(user_id: &str, displayname: Option<&str>) -> Hero {
        Hero {
            user_id: user_id.to_owned(),
            displayname: displayname.map(str::to_owned),
        }
    }

    #[test]
    fn a_name_follows_the_room_as_syncs_tell_of_it() {
        let member = |user: &str, name: &str| json!({"type": "m.room.member", "state_key": user, "content": {"membership": "join", "displayname": name}});
        let mut naming = RoomNaming::default();
        naming.absorb(&json!({
            "summary": {"m.heroes": ["@alice:x"], "m.joined_member_count": 2},
            "events": [member("@alice:x", "alice")],
        }));
        assert_eq!(naming.name().as_deref(), Some("alice"));
        // Two join: the summary gives the new heroes and count only; their names come in the
        // timeline.
        naming.absorb(&json!({
            "summary": {"m.heroes": ["@alice:x", "@bob:x", "@carol:x"], "m.joined_member_count": 4},
            "events": [member("@bob:x", "bob"), member("@carol:x", "carol")],
        }));
        assert_eq!(naming.name().as_deref(), Some("alice, bob and carol"));
        // A sync without a summary changes nothing; a name wins over heroes.
        naming.absorb(&json!({"events": []}));
        assert_eq!(naming.name().as_deref(), Some("alice, bob and carol"));
        naming.absorb(&json!({"events": [{"type": "m.room.name", "state_key": "", "content": {"name": "Ops"}}]}));
        assert_eq!(naming.name().as_deref(), Some("Ops"));
    }

    #[test]
    fn names_read_as_clients_show_them() {
        let alice = hero("@alice:x", Some("Alice"));
        let bob = hero("@bob:x", None);
        let carol = hero("@carol:x", Some("Carol"));
        assert_eq!(
            name_from_heroes(std::slice::from_ref(&alice), Some(2)).as_deref(),
            Some("Alice")
        );
        assert_eq!(
            name_from_heroes(&[alice.clone(), bob.clone()], Some(3)).as_deref(),
            Some("Alice and @bob:x")
        );
        assert_eq!(
            name_from_heroes(&[alice.clone(), bob.clone(), carol.clone()], Some(4)).as_deref(),
            Some("Alice, @bob:x and Carol")
        );
        assert_eq!(
            name_from_heroes(&[alice.clone(), bob, carol], Some(9)).as_deref(),
            Some("Alice, @bob:x, Carol and 5 others")
        );
        assert_eq!(
            name_from_heroes(&[alice], Some(3)).as_deref(),
            Some("Alice and 1 other")
        );
        assert_eq!(name_from_heroes(&[], Some(1)), None);
    }

    #[test]
    fn a_sync_summary_names_its_heroes_by_their_member_events() {
        let summary = json!({"m.heroes": ["@alice:x"], "m.joined_member_count": 2});
        let state = json!([{"type": "m.room.member", "state_key": "@alice:x",
                            "content": {"membership": "join", "displayname": "Alice"}}]);
        let heroes = heroes_of_sync(&summary, &state);
        assert_eq!(heroes, vec![hero("@alice:x", Some("Alice"))]);
        assert_eq!(members_of_sync(&summary), Some(2));
    }
}
