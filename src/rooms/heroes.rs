//! The name a room without `m.room.name` or alias goes by, from its heroes (the members the
//! server picks to name it), as the spec's display-name rules and clients have it: "Alice",
//! "Alice and Bob", "Alice, Bob and 3 others". A DM shows the other person.

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
