-- Discourse's schema, which declares almost no foreign key: 50 tables
-- transcribed from the "# == Schema Information" annotations at the end of
-- app/models/*.rb and plugins/chat/app/models (annotations of 2019 to
-- 2024, each table as one version of its model file has it: the column
-- names, types, NULL and defaults, and the unique indexes; badges, groups,
-- categories and chat_channels reduced to a few columns), with the only
-- foreign keys the annotations list: user_security_keys.user_id -> users,
-- and user_profiles' pictures and title badge -> uploads, badges.  Every
-- other reference is kept by the application: the subject's data map comes
-- from discover_links() and the links a DBA declares.
-- Seeded with seven users (the system user -1 too) whose ids are also the
-- ids of others' posts, topics, categories, tags, chat channels and
-- bookmarked things: erin is user 5, post 5 is bob's, topic 5 carol's,
-- bob bookmarked post 5 and alice topic 5.  Access, export and erasure of
-- every user are checked against an independent walk (the root row, the
-- rows of the declared columns, then every row whose foreign key points at
-- one of them), the receipts against the rows that really disappeared.
-- What a DBA declares: the columns that say whose the row is (user_id,
-- both sides of the staff log, of the activity stream, of mutes), not the
-- columns that say who else a row concerns (posts.reply_to_user_id,
-- topics.last_post_user_id, featured_user1_id, deleted_by_id,
-- last_editor_id): those make another person's row shared, deleted with
-- the subject by default.  Posts of others in a user's topic are reached
-- through no declared column: they are the others', and stay.
-- The defect it found: discover_links() proposed no column whose name says
-- a person did something without the subject's name (created_by_id,
-- granted_by_id, invited_by_id, deleted_by_id, last_editor_id: Rails'
-- belongs_to :created_by, class_name: 'User') nor a numbered one
-- (topics.featured_user1_id ... featured_user4_id, a pair's user1_id); the
-- first are now proposed at half the confidence, the second as the others.
CREATE EXTENSION privacy;
CREATE TABLE users (id serial PRIMARY KEY, username varchar(60) NOT NULL, created_at timestamp NOT NULL DEFAULT now(),
	updated_at timestamp NOT NULL DEFAULT now(), name varchar, seen_notification_id integer DEFAULT 0 NOT NULL,
	last_posted_at timestamp, password_hash varchar(64), salt varchar(32), active boolean DEFAULT false NOT NULL,
	username_lower varchar(60) NOT NULL, last_seen_at timestamp, admin boolean DEFAULT false NOT NULL,
	last_emailed_at timestamp, trust_level integer NOT NULL, approved boolean DEFAULT false NOT NULL,
	approved_by_id integer, approved_at timestamp, previous_visit_at timestamp, suspended_at timestamp,
	suspended_till timestamp, date_of_birth date, views integer DEFAULT 0 NOT NULL, flag_level integer DEFAULT 0 NOT NULL,
	ip_address inet, moderator boolean DEFAULT false, title varchar, uploaded_avatar_id integer, locale varchar(10),
	primary_group_id integer, registration_ip_address inet, staged boolean DEFAULT false NOT NULL,
	first_seen_at timestamp, silenced_till timestamp, group_locked_trust_level integer,
	manual_locked_trust_level integer, secure_identifier varchar);
CREATE UNIQUE INDEX index_users_on_secure_identifier ON users (secure_identifier);
CREATE UNIQUE INDEX index_users_on_username ON users (username);
CREATE UNIQUE INDEX index_users_on_username_lower ON users (username_lower);
CREATE TABLE user_emails (id serial PRIMARY KEY, user_id integer NOT NULL, email varchar(513) NOT NULL,
	"primary" boolean DEFAULT false NOT NULL, created_at timestamp NOT NULL DEFAULT now(),
	updated_at timestamp NOT NULL DEFAULT now(), normalized_email varchar);
CREATE UNIQUE INDEX index_user_emails_on_email ON user_emails (lower((email)::text));
CREATE INDEX index_user_emails_on_user_id ON user_emails (user_id);
CREATE UNIQUE INDEX index_user_emails_on_user_id_and_primary ON user_emails (user_id, "primary") WHERE "primary";
CREATE TABLE user_stats (user_id integer NOT NULL PRIMARY KEY, bounce_score double precision DEFAULT 0.0 NOT NULL,
	days_visited integer DEFAULT 0 NOT NULL, digest_attempted_at timestamp, distinct_badge_count integer DEFAULT 0 NOT NULL,
	draft_count integer DEFAULT 0 NOT NULL, first_post_created_at timestamp, first_unread_at timestamp NOT NULL DEFAULT now(),
	first_unread_pm_at timestamp NOT NULL DEFAULT now(), flags_agreed integer DEFAULT 0 NOT NULL,
	flags_disagreed integer DEFAULT 0 NOT NULL, flags_ignored integer DEFAULT 0 NOT NULL,
	likes_given integer DEFAULT 0 NOT NULL, likes_received integer DEFAULT 0 NOT NULL, new_since timestamp NOT NULL DEFAULT now(),
	pending_posts_count integer DEFAULT 0 NOT NULL, post_count integer DEFAULT 0 NOT NULL, post_edits_count integer,
	posts_read_count integer DEFAULT 0 NOT NULL, read_faq timestamp, reset_bounce_score_after timestamp,
	time_read integer DEFAULT 0 NOT NULL, topic_count integer DEFAULT 0 NOT NULL, topics_entered integer DEFAULT 0 NOT NULL);
CREATE TABLE user_options (user_id integer NOT NULL PRIMARY KEY, mailing_list_mode boolean DEFAULT false NOT NULL,
	email_digests boolean, external_links_in_new_tab boolean DEFAULT false NOT NULL, enable_quoting boolean DEFAULT true NOT NULL,
	dynamic_favicon boolean DEFAULT false NOT NULL, disable_jump_reply boolean DEFAULT false NOT NULL,
	automatically_unpin_topics boolean DEFAULT true NOT NULL, digest_after_minutes integer,
	auto_track_topics_after_msecs integer, new_topic_duration_minutes integer, last_redirected_to_top_at timestamp,
	email_previous_replies integer DEFAULT 2 NOT NULL, email_in_reply_to boolean DEFAULT true NOT NULL,
	like_notification_frequency integer DEFAULT 1 NOT NULL, mailing_list_mode_frequency integer DEFAULT 1 NOT NULL,
	include_tl0_in_digests boolean DEFAULT false, notification_level_when_replying integer,
	theme_key_seq integer DEFAULT 0 NOT NULL, allow_private_messages boolean DEFAULT true NOT NULL, homepage_id integer,
	theme_ids integer[] DEFAULT '{}' NOT NULL, hide_profile_and_presence boolean DEFAULT false NOT NULL,
	text_size_key integer DEFAULT 0 NOT NULL, text_size_seq integer DEFAULT 0 NOT NULL, email_level integer DEFAULT 1 NOT NULL,
	email_messages_level integer DEFAULT 0 NOT NULL, title_count_mode_key integer DEFAULT 0 NOT NULL);
CREATE UNIQUE INDEX index_user_options_on_user_id ON user_options (user_id);
CREATE TABLE user_auth_tokens (id serial PRIMARY KEY, auth_token varchar NOT NULL, auth_token_seen boolean DEFAULT false NOT NULL,
	authenticated_with_oauth boolean DEFAULT false, client_ip inet, impersonation_expires_at timestamp,
	prev_auth_token varchar NOT NULL, rotated_at timestamp NOT NULL DEFAULT now(), seen_at timestamp, user_agent varchar,
	created_at timestamp NOT NULL DEFAULT now(), updated_at timestamp NOT NULL DEFAULT now(),
	impersonated_user_id integer, user_id integer NOT NULL);
CREATE UNIQUE INDEX index_user_auth_tokens_on_auth_token ON user_auth_tokens (auth_token);
CREATE UNIQUE INDEX index_user_auth_tokens_on_prev_auth_token ON user_auth_tokens (prev_auth_token);
CREATE INDEX index_user_auth_tokens_on_user_id ON user_auth_tokens (user_id);
CREATE TABLE user_auth_token_logs (id serial PRIMARY KEY, action varchar NOT NULL, user_auth_token_id integer,
	user_id integer, client_ip inet, user_agent varchar, auth_token varchar, created_at timestamp, path varchar);
CREATE TABLE user_api_keys (id serial PRIMARY KEY, user_id integer NOT NULL, client_id varchar NOT NULL,
	application_name varchar NOT NULL, push_url varchar, created_at timestamp NOT NULL DEFAULT now(),
	updated_at timestamp NOT NULL DEFAULT now(), revoked_at timestamp, scopes text[] DEFAULT '{}' NOT NULL,
	last_used_at timestamp NOT NULL DEFAULT now(), key_hash varchar NOT NULL);
CREATE UNIQUE INDEX index_user_api_keys_on_client_id ON user_api_keys (client_id);
CREATE UNIQUE INDEX index_user_api_keys_on_key_hash ON user_api_keys (key_hash);
CREATE TABLE api_keys (id serial PRIMARY KEY, user_id integer, created_by_id integer, created_at timestamp NOT NULL DEFAULT now(),
	updated_at timestamp NOT NULL DEFAULT now(), allowed_ips inet[], hidden boolean DEFAULT false NOT NULL,
	last_used_at timestamp, revoked_at timestamp, description text, key_hash varchar NOT NULL, truncated_key varchar NOT NULL);
CREATE INDEX index_api_keys_on_user_id ON api_keys (user_id);
-- one of the few foreign keys Discourse declares
CREATE TABLE user_security_keys (id bigserial PRIMARY KEY, enabled boolean DEFAULT true NOT NULL,
	factor_type integer DEFAULT 0 NOT NULL, last_used timestamp, name varchar(300) NOT NULL, public_key varchar NOT NULL,
	created_at timestamp NOT NULL DEFAULT now(), updated_at timestamp NOT NULL DEFAULT now(),
	credential_id varchar NOT NULL, user_id bigint NOT NULL REFERENCES users (id));
CREATE UNIQUE INDEX index_user_security_keys_on_credential_id ON user_security_keys (credential_id);
CREATE TABLE user_second_factors (id bigserial PRIMARY KEY, user_id integer NOT NULL, method integer NOT NULL,
	data varchar NOT NULL, enabled boolean DEFAULT false NOT NULL, last_used timestamp,
	created_at timestamp NOT NULL DEFAULT now(), updated_at timestamp NOT NULL DEFAULT now());
CREATE TABLE user_associated_accounts (id bigserial PRIMARY KEY, credentials jsonb NOT NULL DEFAULT '{}', extra jsonb NOT NULL DEFAULT '{}',
	info jsonb NOT NULL DEFAULT '{}', last_used timestamp NOT NULL DEFAULT now(), provider_name varchar NOT NULL,
	provider_uid varchar NOT NULL, created_at timestamp NOT NULL DEFAULT now(), updated_at timestamp NOT NULL DEFAULT now(),
	user_id integer);
CREATE UNIQUE INDEX associated_accounts_provider_uid ON user_associated_accounts (provider_name, provider_uid);
CREATE UNIQUE INDEX associated_accounts_provider_user ON user_associated_accounts (provider_name, user_id);
CREATE TABLE email_tokens (id serial PRIMARY KEY, user_id integer NOT NULL, email varchar NOT NULL, token varchar NOT NULL,
	confirmed boolean DEFAULT false NOT NULL, expired boolean DEFAULT false NOT NULL,
	created_at timestamp NOT NULL DEFAULT now(), updated_at timestamp NOT NULL DEFAULT now(), token_hash varchar NOT NULL);
CREATE UNIQUE INDEX index_email_tokens_on_token ON email_tokens (token);
CREATE TABLE email_change_requests (id serial PRIMARY KEY, change_state integer NOT NULL, new_email varchar NOT NULL,
	old_email varchar, created_at timestamp NOT NULL DEFAULT now(), updated_at timestamp NOT NULL DEFAULT now(),
	new_email_token_id integer, old_email_token_id integer, requested_by_user_id integer, user_id integer NOT NULL);
CREATE TABLE user_custom_fields (id serial PRIMARY KEY, user_id integer NOT NULL, name varchar(256) NOT NULL, value text,
	created_at timestamp NOT NULL DEFAULT now(), updated_at timestamp NOT NULL DEFAULT now());
CREATE INDEX index_user_custom_fields_on_user_id_and_name ON user_custom_fields (user_id, name);
CREATE TABLE user_visits (id serial PRIMARY KEY, user_id integer NOT NULL, visited_at date NOT NULL, posts_read integer DEFAULT 0);
CREATE UNIQUE INDEX index_user_visits_on_user_id_and_visited_at ON user_visits (user_id, visited_at);
CREATE TABLE user_histories (id serial PRIMARY KEY, action integer NOT NULL, acting_user_id integer, target_user_id integer,
	details text, created_at timestamp NOT NULL DEFAULT now(), updated_at timestamp NOT NULL DEFAULT now(), context varchar,
	ip_address varchar, email varchar, subject text, previous_value text, new_value text, topic_id integer,
	admin_only boolean DEFAULT false, post_id integer, custom_type varchar, category_id integer);
CREATE INDEX index_user_histories_on_acting_user_id_and_action_and_id ON user_histories (acting_user_id, action, id);
CREATE INDEX index_user_histories_on_target_user_id_and_id ON user_histories (target_user_id, id);
CREATE TABLE user_actions (id serial PRIMARY KEY, action_type integer NOT NULL, user_id integer NOT NULL,
	target_topic_id integer, target_post_id integer, target_user_id integer, acting_user_id integer,
	created_at timestamp NOT NULL DEFAULT now(), updated_at timestamp NOT NULL DEFAULT now());
CREATE UNIQUE INDEX idx_unique_rows ON user_actions (action_type, user_id, target_topic_id, target_post_id, acting_user_id);
CREATE INDEX index_user_actions_on_acting_user_id ON user_actions (acting_user_id);
-- badges, groups, categories, chat_channels: reduced to a few columns (no personal data)
CREATE TABLE badges (id serial PRIMARY KEY, name varchar NOT NULL UNIQUE, description text, badge_type_id integer NOT NULL,
	grant_count integer DEFAULT 0 NOT NULL, enabled boolean DEFAULT true NOT NULL);
CREATE TABLE user_badges (id serial PRIMARY KEY, badge_id integer NOT NULL, user_id integer NOT NULL,
	granted_at timestamp NOT NULL DEFAULT now(), granted_by_id integer NOT NULL, post_id integer, seq integer DEFAULT 0 NOT NULL,
	featured_rank integer, created_at timestamp NOT NULL DEFAULT now(), is_favorite boolean, notification_id bigint);
CREATE UNIQUE INDEX index_user_badges_on_badge_id_and_user_id_and_seq ON user_badges (badge_id, user_id, seq) WHERE (post_id IS NULL);
CREATE TABLE user_warnings (id serial PRIMARY KEY, created_at timestamp NOT NULL DEFAULT now(), updated_at timestamp NOT NULL DEFAULT now(),
	created_by_id integer NOT NULL, topic_id integer NOT NULL, user_id integer NOT NULL);
CREATE UNIQUE INDEX index_user_warnings_on_topic_id ON user_warnings (topic_id);
CREATE TABLE muted_users (id serial PRIMARY KEY, user_id integer NOT NULL, muted_user_id integer NOT NULL,
	created_at timestamp NOT NULL DEFAULT now(), updated_at timestamp NOT NULL DEFAULT now());
CREATE UNIQUE INDEX index_muted_users_on_user_id_and_muted_user_id ON muted_users (user_id, muted_user_id);
CREATE TABLE ignored_users (id serial PRIMARY KEY, user_id integer NOT NULL, ignored_user_id integer NOT NULL,
	created_at timestamp NOT NULL DEFAULT now(), updated_at timestamp NOT NULL DEFAULT now());
CREATE UNIQUE INDEX index_ignored_users_on_user_id_and_ignored_user_id ON ignored_users (user_id, ignored_user_id);
CREATE TABLE groups (id serial PRIMARY KEY, name varchar NOT NULL UNIQUE, user_count integer DEFAULT 0 NOT NULL,
	visibility_level integer DEFAULT 0 NOT NULL, title varchar);
CREATE TABLE group_users (id serial PRIMARY KEY, group_id integer NOT NULL, user_id integer NOT NULL,
	created_at timestamp NOT NULL DEFAULT now(), updated_at timestamp NOT NULL DEFAULT now(), owner boolean DEFAULT false NOT NULL,
	notification_level integer DEFAULT 2 NOT NULL, first_unread_pm_at timestamp NOT NULL DEFAULT now());
CREATE UNIQUE INDEX index_group_users_on_user_id_and_group_id ON group_users (user_id, group_id);
CREATE TABLE categories (id serial PRIMARY KEY, name varchar(50) NOT NULL UNIQUE, slug varchar NOT NULL,
	topic_id integer, user_id integer NOT NULL, parent_category_id integer, read_restricted boolean DEFAULT false NOT NULL);
CREATE TABLE category_users (id serial PRIMARY KEY, category_id integer NOT NULL, user_id integer NOT NULL,
	notification_level integer NOT NULL);
CREATE UNIQUE INDEX idx_category_users_u1 ON category_users (user_id, category_id, notification_level);
CREATE TABLE tags (id serial PRIMARY KEY, name varchar NOT NULL, created_at timestamp NOT NULL DEFAULT now(),
	updated_at timestamp NOT NULL DEFAULT now(), pm_topic_count integer DEFAULT 0 NOT NULL, target_tag_id integer,
	description varchar(1000), public_topic_count integer DEFAULT 0 NOT NULL, staff_topic_count integer DEFAULT 0 NOT NULL);
CREATE UNIQUE INDEX index_tags_on_name ON tags (name);
CREATE TABLE topics (id serial PRIMARY KEY, title varchar(255) NOT NULL, last_posted_at timestamp, created_at timestamp,
	updated_at timestamp, views integer DEFAULT 0 NOT NULL, posts_count integer DEFAULT 0 NOT NULL, user_id integer,
	last_post_user_id integer NOT NULL, reply_count integer DEFAULT 0 NOT NULL, featured_user1_id integer,
	featured_user2_id integer, featured_user3_id integer, avg_time integer, deleted_at timestamp,
	highest_post_number integer DEFAULT 0 NOT NULL, image_url varchar(255), off_topic_count integer DEFAULT 0 NOT NULL,
	like_count integer DEFAULT 0 NOT NULL, incoming_link_count integer DEFAULT 0 NOT NULL, bookmark_count integer DEFAULT 0 NOT NULL,
	star_count integer DEFAULT 0 NOT NULL, category_id integer, visible boolean DEFAULT true NOT NULL,
	moderator_posts_count integer DEFAULT 0 NOT NULL, closed boolean DEFAULT false NOT NULL, archived boolean DEFAULT false NOT NULL,
	bumped_at timestamp NOT NULL DEFAULT now(), has_summary boolean DEFAULT false NOT NULL, vote_count integer DEFAULT 0 NOT NULL,
	archetype varchar(255) DEFAULT 'regular' NOT NULL, featured_user4_id integer, notify_moderators_count integer DEFAULT 0 NOT NULL,
	spam_count integer DEFAULT 0 NOT NULL, illegal_count integer DEFAULT 0 NOT NULL, inappropriate_count integer DEFAULT 0 NOT NULL,
	pinned_at timestamp, score double precision, percent_rank double precision DEFAULT 1.0 NOT NULL,
	notify_user_count integer DEFAULT 0 NOT NULL, subtype varchar(255), slug varchar(255), auto_close_at timestamp,
	auto_close_user_id integer, auto_close_started_at timestamp, deleted_by_id integer, participant_count integer DEFAULT 1,
	word_count integer, excerpt varchar(1000), pinned_globally boolean DEFAULT false NOT NULL);
CREATE INDEX idx_topics_user_id_deleted_at ON topics (user_id);
CREATE TABLE topic_users (user_id integer NOT NULL, topic_id integer NOT NULL, posted boolean DEFAULT false NOT NULL,
	last_read_post_number integer, last_visited_at timestamp, first_visited_at timestamp,
	notification_level integer DEFAULT 1 NOT NULL, notifications_changed_at timestamp, notifications_reason_id integer,
	total_msecs_viewed integer DEFAULT 0 NOT NULL, cleared_pinned_at timestamp, id serial PRIMARY KEY,
	last_emailed_post_number integer, liked boolean DEFAULT false, bookmarked boolean DEFAULT false, last_posted_at timestamp);
CREATE UNIQUE INDEX index_topic_users_on_topic_id_and_user_id ON topic_users (topic_id, user_id);
CREATE UNIQUE INDEX index_topic_users_on_user_id_and_topic_id ON topic_users (user_id, topic_id);
CREATE TABLE topic_allowed_users (id serial PRIMARY KEY, user_id integer NOT NULL, topic_id integer NOT NULL,
	created_at timestamp NOT NULL DEFAULT now(), updated_at timestamp NOT NULL DEFAULT now());
CREATE UNIQUE INDEX index_topic_allowed_users_on_user_id_and_topic_id ON topic_allowed_users (user_id, topic_id);
CREATE TABLE topic_links (id serial PRIMARY KEY, topic_id integer NOT NULL, post_id integer, user_id integer NOT NULL,
	url varchar(500) NOT NULL, domain varchar(100) NOT NULL, internal boolean DEFAULT false NOT NULL, link_topic_id integer,
	created_at timestamp NOT NULL DEFAULT now(), updated_at timestamp NOT NULL DEFAULT now(), reflection boolean DEFAULT false,
	clicks integer DEFAULT 0 NOT NULL, link_post_id integer, title varchar(255), crawled_at timestamp,
	quote boolean DEFAULT false NOT NULL, extension varchar(10));
CREATE UNIQUE INDEX index_forum_thread_links_on_forum_thread_id_and_post_id_and_url ON topic_links (topic_id, post_id, url);
CREATE TABLE posts (id serial PRIMARY KEY, user_id integer, topic_id integer NOT NULL, post_number integer NOT NULL,
	raw text NOT NULL, cooked text NOT NULL, created_at timestamp NOT NULL DEFAULT now(), updated_at timestamp NOT NULL DEFAULT now(),
	reply_to_post_number integer, reply_count integer DEFAULT 0 NOT NULL, quote_count integer DEFAULT 0 NOT NULL,
	deleted_at timestamp, off_topic_count integer DEFAULT 0 NOT NULL, like_count integer DEFAULT 0 NOT NULL,
	incoming_link_count integer DEFAULT 0 NOT NULL, bookmark_count integer DEFAULT 0 NOT NULL, score double precision,
	reads integer DEFAULT 0 NOT NULL, post_type integer DEFAULT 1 NOT NULL, sort_order integer, last_editor_id integer,
	hidden boolean DEFAULT false NOT NULL, hidden_reason_id integer, notify_moderators_count integer DEFAULT 0 NOT NULL,
	spam_count integer DEFAULT 0 NOT NULL, illegal_count integer DEFAULT 0 NOT NULL, inappropriate_count integer DEFAULT 0 NOT NULL,
	last_version_at timestamp NOT NULL DEFAULT now(), user_deleted boolean DEFAULT false NOT NULL, reply_to_user_id integer,
	percent_rank double precision DEFAULT 1.0, notify_user_count integer DEFAULT 0 NOT NULL, like_score integer DEFAULT 0 NOT NULL,
	deleted_by_id integer, edit_reason varchar, word_count integer, version integer DEFAULT 1 NOT NULL,
	cook_method integer DEFAULT 1 NOT NULL, wiki boolean DEFAULT false NOT NULL, baked_at timestamp, baked_version integer,
	hidden_at timestamp, self_edits integer DEFAULT 0 NOT NULL, reply_quoted boolean DEFAULT false NOT NULL,
	via_email boolean DEFAULT false NOT NULL, raw_email text, public_version integer DEFAULT 1 NOT NULL, action_code varchar,
	locked_by_id integer, image_upload_id bigint, outbound_message_id varchar);
CREATE INDEX idx_posts_user_id_deleted_at ON posts (user_id) WHERE (deleted_at IS NULL);
CREATE UNIQUE INDEX index_posts_on_topic_id_and_post_number ON posts (topic_id, post_number);
CREATE INDEX index_posts_on_user_id_and_created_at ON posts (user_id, created_at);
CREATE TABLE post_actions (id serial PRIMARY KEY, post_id integer NOT NULL, user_id integer NOT NULL,
	post_action_type_id integer NOT NULL, deleted_at timestamp, created_at timestamp NOT NULL DEFAULT now(),
	updated_at timestamp NOT NULL DEFAULT now(), deleted_by_id integer, related_post_id integer,
	staff_took_action boolean DEFAULT false NOT NULL, deferred_by_id integer, targets_topic boolean DEFAULT false NOT NULL,
	agreed_at timestamp, agreed_by_id integer, deferred_at timestamp, disagreed_at timestamp, disagreed_by_id integer);
CREATE UNIQUE INDEX idx_unique_actions ON post_actions (user_id, post_action_type_id, post_id, targets_topic);
CREATE INDEX index_post_actions_on_post_id ON post_actions (post_id);
CREATE TABLE post_revisions (id serial PRIMARY KEY, hidden boolean DEFAULT false NOT NULL, modifications text, number integer,
	created_at timestamp NOT NULL DEFAULT now(), updated_at timestamp NOT NULL DEFAULT now(), post_id integer, user_id integer);
CREATE INDEX index_post_revisions_on_user_id ON post_revisions (user_id);
-- no primary key, as in Discourse
CREATE TABLE post_timings (topic_id integer NOT NULL, post_number integer NOT NULL, user_id integer NOT NULL, msecs integer NOT NULL);
CREATE INDEX index_post_timings_on_user_id ON post_timings (user_id);
CREATE UNIQUE INDEX post_timings_unique ON post_timings (topic_id, post_number, user_id);
CREATE TABLE drafts (id serial PRIMARY KEY, user_id integer NOT NULL, draft_key varchar(255) NOT NULL, data text NOT NULL,
	created_at timestamp NOT NULL DEFAULT now(), updated_at timestamp NOT NULL DEFAULT now(), sequence integer DEFAULT 0 NOT NULL);
CREATE INDEX index_drafts_on_user_id_and_draft_key ON drafts (user_id, draft_key);
CREATE TABLE bookmarks (id bigserial PRIMARY KEY, user_id bigint NOT NULL, name varchar(100), reminder_at timestamp,
	created_at timestamp NOT NULL DEFAULT now(), updated_at timestamp NOT NULL DEFAULT now(), reminder_last_sent_at timestamp,
	reminder_set_at timestamp, auto_delete_preference integer DEFAULT 0 NOT NULL, pinned boolean DEFAULT false,
	bookmarkable_id bigint, bookmarkable_type varchar);
CREATE UNIQUE INDEX idx_bookmarks_user_polymorphic_unique ON bookmarks (user_id, bookmarkable_type, bookmarkable_id);
CREATE TABLE notifications (id serial PRIMARY KEY, notification_type integer NOT NULL, user_id integer NOT NULL,
	data varchar(1000) NOT NULL, read boolean DEFAULT false NOT NULL, created_at timestamp NOT NULL DEFAULT now(),
	updated_at timestamp NOT NULL DEFAULT now(), topic_id integer, post_number integer, post_action_id integer,
	high_priority boolean DEFAULT false NOT NULL);
CREATE INDEX index_notifications_on_user_id_and_created_at ON notifications (user_id, created_at);
CREATE TABLE uploads (id serial PRIMARY KEY, user_id integer NOT NULL, original_filename varchar NOT NULL, filesize bigint NOT NULL,
	width integer, height integer, url varchar NOT NULL, created_at timestamp NOT NULL DEFAULT now(),
	updated_at timestamp NOT NULL DEFAULT now(), sha1 varchar(40), origin varchar(1000), retain_hours integer,
	extension varchar(10), thumbnail_width integer, thumbnail_height integer, etag varchar, secure boolean DEFAULT false NOT NULL,
	access_control_post_id bigint, original_sha1 varchar, animated boolean, verification_status integer DEFAULT 1 NOT NULL,
	security_last_changed_at timestamp, security_last_changed_reason varchar, dominant_color text);
CREATE UNIQUE INDEX index_uploads_on_sha1 ON uploads (sha1);
CREATE INDEX index_uploads_on_user_id ON uploads (user_id);
CREATE TABLE user_uploads (id bigserial PRIMARY KEY, upload_id integer NOT NULL, user_id integer NOT NULL,
	created_at timestamp NOT NULL DEFAULT now());
CREATE UNIQUE INDEX index_user_uploads_on_upload_id_and_user_id ON user_uploads (upload_id, user_id);
CREATE TABLE upload_references (id bigserial PRIMARY KEY, target_type varchar NOT NULL, created_at timestamp NOT NULL DEFAULT now(),
	updated_at timestamp NOT NULL DEFAULT now(), target_id bigint NOT NULL, upload_id bigint NOT NULL);
CREATE INDEX index_upload_references_on_target ON upload_references (target_type, target_id);
CREATE UNIQUE INDEX index_upload_references_on_upload_and_target ON upload_references (upload_id, target_type, target_id);
-- the other foreign keys Discourse declares: a profile's pictures and title badge
CREATE TABLE user_profiles (user_id integer NOT NULL PRIMARY KEY, location varchar(3000), website varchar(3000), bio_raw text,
	bio_cooked text, dismissed_banner_key integer, bio_cooked_version integer, views integer DEFAULT 0 NOT NULL,
	profile_background_upload_id integer REFERENCES uploads (id), card_background_upload_id integer REFERENCES uploads (id),
	granted_title_badge_id bigint REFERENCES badges (id), featured_topic_id integer);
CREATE TABLE invites (id serial PRIMARY KEY, invite_key varchar(32) NOT NULL, email varchar, invited_by_id integer NOT NULL,
	user_id integer, redeemed_at timestamp, created_at timestamp NOT NULL DEFAULT now(), updated_at timestamp NOT NULL DEFAULT now(),
	deleted_at timestamp, deleted_by_id integer, invalidated_at timestamp, moderator boolean DEFAULT false NOT NULL,
	custom_message text, via_email boolean DEFAULT false NOT NULL);
CREATE UNIQUE INDEX index_invites_on_invite_key ON invites (invite_key);
CREATE TABLE invited_users (id bigserial PRIMARY KEY, user_id integer, invite_id integer NOT NULL, redeemed_at timestamp,
	created_at timestamp NOT NULL DEFAULT now(), updated_at timestamp NOT NULL DEFAULT now());
CREATE UNIQUE INDEX index_invited_users_on_user_id_and_invite_id ON invited_users (user_id, invite_id) WHERE (user_id IS NOT NULL);
CREATE TABLE email_logs (id serial PRIMARY KEY, to_address varchar NOT NULL, email_type varchar NOT NULL, user_id integer,
	created_at timestamp NOT NULL DEFAULT now(), updated_at timestamp NOT NULL DEFAULT now(), reply_key varchar(32),
	post_id integer, topic_id integer, skipped boolean DEFAULT false, skipped_reason varchar);
CREATE TABLE incoming_emails (id serial PRIMARY KEY, user_id integer, topic_id integer, post_id integer, raw text, error text,
	message_id text, from_address text, to_addresses text, cc_addresses text, subject text,
	created_at timestamp NOT NULL DEFAULT now(), updated_at timestamp NOT NULL DEFAULT now(), rejection_message text);
CREATE TABLE reviewables (id bigserial PRIMARY KEY, type varchar NOT NULL, status integer DEFAULT 0 NOT NULL,
	created_by_id integer NOT NULL, reviewable_by_moderator boolean DEFAULT false NOT NULL, reviewable_by_group_id integer,
	category_id integer, topic_id integer, score double precision DEFAULT 0.0 NOT NULL, potential_spam boolean DEFAULT false NOT NULL,
	target_id integer, target_type varchar, target_created_by_id integer, payload json, version integer DEFAULT 0 NOT NULL,
	latest_score timestamp, created_at timestamp NOT NULL DEFAULT now(), updated_at timestamp NOT NULL DEFAULT now(),
	force_review boolean DEFAULT false NOT NULL, reject_reason text);
CREATE UNIQUE INDEX index_reviewables_on_type_and_target_id ON reviewables (type, target_id);
CREATE TABLE chat_channels (id bigserial PRIMARY KEY, chatable_id integer NOT NULL, chatable_type varchar NOT NULL,
	name varchar, slug varchar, created_at timestamp NOT NULL DEFAULT now());
CREATE TABLE chat_messages (id bigserial PRIMARY KEY, chat_channel_id integer NOT NULL, user_id integer,
	created_at timestamp NOT NULL DEFAULT now(), updated_at timestamp NOT NULL DEFAULT now(), deleted_at timestamp,
	deleted_by_id integer, in_reply_to_id integer, message text, cooked text, cooked_version integer,
	last_editor_id integer NOT NULL, thread_id integer);
CREATE TABLE user_chat_channel_memberships (id bigserial PRIMARY KEY, user_id integer NOT NULL, chat_channel_id integer NOT NULL,
	last_read_message_id integer, following boolean DEFAULT false NOT NULL, muted boolean DEFAULT false NOT NULL,
	desktop_notification_level integer DEFAULT 1 NOT NULL, mobile_notification_level integer DEFAULT 1 NOT NULL,
	created_at timestamp NOT NULL DEFAULT now(), updated_at timestamp NOT NULL DEFAULT now(),
	last_unread_mention_when_emailed_id integer, join_mode integer DEFAULT 0 NOT NULL);
CREATE UNIQUE INDEX user_chat_channel_unique_memberships ON user_chat_channel_memberships (user_id, chat_channel_id);

-- seven users: the system user (-1, as in Discourse), alice 1, bob 2,
-- carol 3, dave 4 (a moderator), erin 5, frank 6; topic 5 is carol's and
-- post 5 bob's: erin's id is also the id of others' rows everywhere
INSERT INTO users (id, username, username_lower, name, trust_level, active, admin, moderator, ip_address, registration_ip_address,
	password_hash, salt, date_of_birth)
VALUES (-1, 'system', 'system', 'system', 4, true, true, true, NULL, NULL, NULL, NULL, NULL),
	(1, 'alice', 'alice', 'Alice Adams', 3, true, true, false, '192.0.2.1', '192.0.2.1', repeat('a', 64), repeat('1', 32), '1980-01-01'),
	(2, 'bob', 'bob', 'Bob Brown', 2, true, false, false, '192.0.2.2', '192.0.2.2', repeat('b', 64), repeat('2', 32), NULL),
	(3, 'carol', 'carol', 'Carol Clark', 2, true, false, false, '192.0.2.3', '192.0.2.3', repeat('c', 64), repeat('3', 32), NULL),
	(4, 'dave', 'dave', 'Dave Davis', 4, true, false, true, '192.0.2.4', '192.0.2.4', repeat('d', 64), repeat('4', 32), NULL),
	(5, 'erin', 'erin', 'Erin Evans', 1, true, false, false, '2001:db8::5', '2001:db8::5', repeat('e', 64), repeat('5', 32), '1990-05-05'),
	(6, 'frank', 'frank', 'Frank Fox', 0, false, false, false, '192.0.2.6', NULL, repeat('f', 64), repeat('6', 32), NULL);
SELECT setval('users_id_seq', 6);
INSERT INTO user_emails (user_id, email, "primary") SELECT id, username || '@example.com', true FROM users;
INSERT INTO user_emails (user_id, email, "primary") VALUES (5, 'erin@work.example', false), (2, 'bob@work.example', false);
INSERT INTO user_stats (user_id, post_count) SELECT id, id FROM users;
INSERT INTO user_options (user_id) SELECT id FROM users;
INSERT INTO uploads (id, user_id, original_filename, filesize, url, sha1)
SELECT g, (g % 6) + 1, 'file' || g || '.png', 1000 * g, '/uploads/default/' || g || '.png', md5(g::text) FROM generate_series(1, 12) g;
INSERT INTO user_uploads (upload_id, user_id) SELECT id, user_id FROM uploads;
INSERT INTO badges (id, name, badge_type_id) VALUES (1, 'Basic', 3), (2, 'Member', 3), (3, 'Leader', 1);
INSERT INTO user_profiles (user_id, location, website, bio_raw, card_background_upload_id, granted_title_badge_id)
SELECT id, 'City ' || id, 'https://' || username || '.example', 'I am ' || name,
	CASE id WHEN 5 THEN 4 WHEN 2 THEN 1 END, CASE id WHEN 5 THEN 1 END FROM users;
UPDATE users SET uploaded_avatar_id = (SELECT min(id) FROM uploads u WHERE u.user_id = users.id);
INSERT INTO user_auth_tokens (user_id, auth_token, prev_auth_token, client_ip, user_agent, impersonated_user_id)
SELECT (g % 6) + 1, 'tok' || g, 'prev' || g, ('192.0.2.' || (g % 6) + 1)::inet, 'Mozilla/5.0', CASE g WHEN 4 THEN 5 END
  FROM generate_series(1, 18) g;
INSERT INTO user_auth_token_logs (action, user_auth_token_id, user_id, client_ip, user_agent, auth_token, created_at, path)
SELECT 'generate', id, user_id, client_ip, user_agent, auth_token, now(), '/login' FROM user_auth_tokens;
INSERT INTO user_api_keys (user_id, client_id, application_name, key_hash) VALUES (5, 'c5', 'DiscourseHub', 'h5'), (2, 'c2', 'DiscourseHub', 'h2');
INSERT INTO api_keys (user_id, created_by_id, key_hash, truncated_key, description) VALUES (4, 1, 'k1', 'k1..', 'dave'), (NULL, 4, 'k2', 'k2..', 'all users');
INSERT INTO user_security_keys (user_id, name, public_key, credential_id) VALUES (5, 'yubikey', 'pk5', 'cred5'), (1, 'phone', 'pk1', 'cred1');
INSERT INTO user_second_factors (user_id, method, data, enabled) VALUES (5, 1, 'totp-secret-5', true), (4, 1, 'totp-secret-4', true);
INSERT INTO user_associated_accounts (provider_name, provider_uid, user_id, info) VALUES
	('github', 'gh5', 5, '{"email": "erin@example.com"}'), ('google_oauth2', 'go2', 2, '{}'), ('github', 'gh-orphan', NULL, '{}');
INSERT INTO email_tokens (user_id, email, token, token_hash) SELECT id, username || '@example.com', 't' || id, md5(id::text) FROM users WHERE id > 0;
INSERT INTO email_change_requests (change_state, new_email, old_email, requested_by_user_id, user_id) VALUES
	(1, 'erin@new.example', 'erin@example.com', 4, 5), (2, 'bob@new.example', 'bob@example.com', 2, 2);
INSERT INTO user_custom_fields (user_id, name, value) SELECT (g % 6) + 1, 'user_field_' || g, 'value ' || g FROM generate_series(1, 12) g;
INSERT INTO user_visits (user_id, visited_at, posts_read) SELECT u, date '2026-11-01' + d, d FROM generate_series(1, 6) u, generate_series(0, 4) d;
-- staff actions: dave (4) and the system user act on the others
INSERT INTO user_histories (action, acting_user_id, target_user_id, details, ip_address, email, topic_id, post_id, category_id)
SELECT g % 5 + 1, CASE WHEN g % 3 = 0 THEN -1 ELSE 4 END, (g % 6) + 1, 'details ' || g, '192.0.2.4', NULL, g, g, 1
  FROM generate_series(1, 24) g;
INSERT INTO user_histories (action, acting_user_id, target_user_id, details) VALUES (7, 5, NULL, 'erin changed her username'), (8, 5, 2, 'erin checked bob''s email');
INSERT INTO groups (id, name, title) VALUES (1, 'trust_level_1', NULL), (2, 'staff', 'Staff'), (3, 'designers', NULL);
INSERT INTO group_users (group_id, user_id) SELECT 1, id FROM users WHERE id > 0;
INSERT INTO group_users (group_id, user_id, owner) VALUES (2, 4, true), (3, 5, true), (3, 2, false);
INSERT INTO categories (id, name, slug, user_id) VALUES (1, 'General', 'general', -1), (2, 'Design', 'design', 1), (5, 'Staff', 'staff', 4);
INSERT INTO category_users (category_id, user_id, notification_level) SELECT c, u, 3 FROM generate_series(1, 2) c, generate_series(1, 6) u WHERE (c + u) % 2 = 0;
INSERT INTO tags (id, name) VALUES (1, 'css'), (2, 'help'), (5, 'bug');
INSERT INTO topics (id, title, user_id, last_post_user_id, featured_user1_id, featured_user2_id, category_id, created_at, slug, archetype)
SELECT g, 'Topic ' || g, CASE g WHEN 5 THEN 3 ELSE (g % 6) + 1 END, ((g + 2) % 6) + 1,
	CASE WHEN g % 2 = 0 THEN 5 END, CASE WHEN g % 3 = 0 THEN 2 END, g % 3 + 1, now(), 'topic-' || g,
	CASE WHEN g = 12 THEN 'private_message' ELSE 'regular' END
  FROM generate_series(1, 12) g;
SELECT setval('topics_id_seq', 12);
INSERT INTO posts (id, user_id, topic_id, post_number, raw, cooked, reply_to_user_id, last_editor_id, deleted_by_id, deleted_at)
SELECT g, CASE g WHEN 5 THEN 2 ELSE ((g + g / 12) % 6) + 1 END, (g - 1) % 12 + 1, (g - 1) / 12 + 1, 'post ' || g, '<p>post ' || g || '</p>',
	CASE WHEN g > 12 THEN ((g - 12 + (g - 12) / 12) % 6) + 1 END, CASE WHEN g % 10 = 0 THEN 4 ELSE ((g + g / 12) % 6) + 1 END,
	CASE WHEN g % 25 = 0 THEN 4 END, CASE WHEN g % 25 = 0 THEN now() END
  FROM generate_series(1, 120) g;
SELECT setval('posts_id_seq', 120);
INSERT INTO post_revisions (post_id, user_id, number, modifications) SELECT id, last_editor_id, 2, '--- {}' FROM posts WHERE id % 10 = 0 OR id = 5;
INSERT INTO post_actions (post_id, user_id, post_action_type_id, agreed_by_id, agreed_at)
SELECT g, ((g + 2) % 6) + 1, CASE WHEN g % 9 = 0 THEN 8 ELSE 2 END, CASE WHEN g % 9 = 0 THEN 4 END, CASE WHEN g % 9 = 0 THEN now() END
  FROM generate_series(1, 80) g;
INSERT INTO user_actions (action_type, user_id, target_topic_id, target_post_id, target_user_id, acting_user_id)
SELECT 1, pa.user_id, p.topic_id, p.id, p.user_id, pa.user_id FROM post_actions pa JOIN posts p ON p.id = pa.post_id;
INSERT INTO user_actions (action_type, user_id, target_topic_id, target_post_id, target_user_id, acting_user_id)
SELECT 2, p.user_id, p.topic_id, p.id, p.user_id, pa.user_id FROM post_actions pa JOIN posts p ON p.id = pa.post_id;
INSERT INTO user_actions (action_type, user_id, target_topic_id, target_post_id, acting_user_id)
SELECT 5, user_id, topic_id, id, user_id FROM posts;
INSERT INTO notifications (notification_type, user_id, data, topic_id, post_number)
SELECT g % 12 + 1, (g % 6) + 1, '{"display_username":"' || (ARRAY['alice','bob','carol','dave','erin','frank'])[((g + 1) % 6) + 1] || '"}', g % 12 + 1, 1
  FROM generate_series(1, 60) g;
INSERT INTO post_timings (topic_id, post_number, user_id, msecs)
SELECT p.topic_id, p.post_number, u, 1000 * u FROM posts p, generate_series(1, 6) u WHERE (p.id + u) % 4 = 0;
INSERT INTO topic_users (user_id, topic_id, posted, notification_level) SELECT u, t, true, 2 FROM generate_series(1, 6) u, generate_series(1, 12) t WHERE (u + t) % 2 = 0;
INSERT INTO topic_allowed_users (user_id, topic_id) VALUES (5, 12), (2, 12);
INSERT INTO topic_links (topic_id, post_id, user_id, url, domain) SELECT topic_id, id, user_id, 'https://example.org/' || id, 'example.org' FROM posts WHERE id % 8 = 0;
INSERT INTO drafts (user_id, draft_key, data) SELECT u, 'new_topic', 'draft of ' || u FROM generate_series(1, 6) u;
INSERT INTO bookmarks (user_id, bookmarkable_id, bookmarkable_type, name) VALUES
	(2, 5, 'Post', 'read later'), (1, 5, 'Topic', NULL), (5, 3, 'Post', 'erin''s'), (5, 5, 'Chat::Message', NULL), (3, 5, 'Post', NULL);
INSERT INTO upload_references (target_type, target_id, upload_id) SELECT 'User', user_id, min(id) FROM uploads GROUP BY user_id;
INSERT INTO upload_references (target_type, target_id, upload_id) VALUES ('Post', 5, 4), ('UserProfile', 5, 4), ('UserProfile', 2, 1);
INSERT INTO invites (invite_key, email, invited_by_id, user_id, redeemed_at) VALUES ('inv1', 'erin@example.com', 1, 5, now()), ('inv2', 'zoe@example.com', 5, NULL, NULL);
INSERT INTO invited_users (user_id, invite_id, redeemed_at) VALUES (5, 1, now());
INSERT INTO email_logs (to_address, email_type, user_id, post_id, topic_id) SELECT username || '@example.com', 'digest', id, 5, 5 FROM users WHERE id > 0;
INSERT INTO incoming_emails (user_id, topic_id, post_id, from_address, subject, raw) VALUES (5, 5, 5, 'erin@example.com', 'Re: Topic 5', 'raw mail'), (NULL, NULL, NULL, 'spam@example.net', 'buy', 'raw');
INSERT INTO reviewables (type, created_by_id, target_id, target_type, target_created_by_id, topic_id, payload) VALUES
	('ReviewableUser', -1, 6, 'User', 6, NULL, '{"username": "frank"}'), ('ReviewableFlaggedPost', 4, 5, 'Post', 2, 5, NULL),
	('ReviewableQueuedPost', 5, 5, 'Topic', 3, 5, '{"raw": "erin''s queued post"}');
INSERT INTO user_badges (badge_id, user_id, granted_by_id, seq) SELECT 1, id, -1, 0 FROM users WHERE id > 0;
INSERT INTO user_badges (badge_id, user_id, granted_by_id, seq) VALUES (3, 5, 4, 0);
INSERT INTO user_warnings (created_by_id, topic_id, user_id) VALUES (4, 9, 5);
INSERT INTO muted_users (user_id, muted_user_id) VALUES (5, 2), (2, 5), (1, 5);
INSERT INTO ignored_users (user_id, ignored_user_id) VALUES (3, 5);
INSERT INTO chat_channels (id, chatable_id, chatable_type, name) VALUES (1, 5, 'Category', 'staff'), (5, 1, 'DirectMessage', NULL);
INSERT INTO chat_messages (chat_channel_id, user_id, message, cooked, last_editor_id, deleted_by_id)
SELECT (g % 2) * 4 + 1, (g % 6) + 1, 'chat ' || g, '<p>chat ' || g || '</p>', CASE WHEN g = 7 THEN 4 ELSE (g % 6) + 1 END, NULL FROM generate_series(1, 20) g;
INSERT INTO user_chat_channel_memberships (user_id, chat_channel_id, following) SELECT u, c, true FROM generate_series(1, 6) u, (VALUES (1), (5)) v(c);

SELECT privacy.define_subject('user', 'users');
-- only user_security_keys is in the map by a foreign key
SELECT table_name, via FROM privacy.subject_tables WHERE subject = 'user' ORDER BY 1::text;
-- discover_links' proposals: every column whose name says it holds a
-- user (user_id, acting_user_id, muted_user_id, requested_by_user_id,
-- featured_user1_id, the polymorphic target_id of type 'User'), and at
-- half the confidence the columns that name a person who did something
-- (created_by_id, deleted_by_id, granted_by_id, last_editor_id).  Not
-- post_id, topic_id, category_id, bookmarkable_id (types 'Post', 'Topic',
-- 'Chat::Message'): their values are small integers that are user ids too
SELECT table_name, column_name, type_column, type_value, confidence FROM privacy.discover_links('user')
 ORDER BY confidence DESC, 1::text, 2;
SELECT count(*) AS proposed, count(*) FILTER (WHERE column_name IN ('post_id', 'topic_id', 'category_id', 'bookmarkable_id',
	'target_post_id', 'target_topic_id', 'upload_id', 'badge_id', 'group_id')) AS ids_of_other_things
  FROM privacy.discover_links('user');
-- declared: the user's rows (what Discourse's UserDestroyer deletes, and
-- the posts, topics and uploads it keeps), both sides of the staff log
-- (user_histories), of the activity stream (user_actions), of mutes and
-- ignores, and the polymorphic targets of type 'User'
CREATE TABLE dc_links (tbl regclass, col name, typ_col name, typ_val text);
INSERT INTO dc_links (tbl, col) VALUES
	('user_emails', 'user_id'), ('user_profiles', 'user_id'), ('user_stats', 'user_id'), ('user_options', 'user_id'),
	('user_auth_tokens', 'user_id'), ('user_auth_token_logs', 'user_id'), ('user_api_keys', 'user_id'), ('api_keys', 'user_id'),
	('user_second_factors', 'user_id'), ('user_associated_accounts', 'user_id'), ('email_tokens', 'user_id'),
	('email_change_requests', 'user_id'), ('user_custom_fields', 'user_id'), ('user_visits', 'user_id'),
	('user_histories', 'acting_user_id'), ('user_histories', 'target_user_id'),
	('user_actions', 'user_id'), ('user_actions', 'acting_user_id'), ('user_actions', 'target_user_id'),
	('user_badges', 'user_id'), ('user_warnings', 'user_id'), ('muted_users', 'user_id'), ('muted_users', 'muted_user_id'),
	('ignored_users', 'user_id'), ('ignored_users', 'ignored_user_id'), ('group_users', 'user_id'), ('category_users', 'user_id'),
	('topics', 'user_id'), ('topic_users', 'user_id'), ('topic_allowed_users', 'user_id'), ('topic_links', 'user_id'),
	('posts', 'user_id'), ('post_actions', 'user_id'), ('post_revisions', 'user_id'), ('post_timings', 'user_id'),
	('drafts', 'user_id'), ('bookmarks', 'user_id'), ('notifications', 'user_id'), ('uploads', 'user_id'),
	('user_uploads', 'user_id'), ('invites', 'invited_by_id'), ('invited_users', 'user_id'), ('email_logs', 'user_id'),
	('incoming_emails', 'user_id'), ('chat_messages', 'user_id'), ('user_chat_channel_memberships', 'user_id');
-- a queued post's author, a flag's flagger
INSERT INTO dc_links (tbl, col) VALUES ('reviewables', 'created_by_id');
INSERT INTO dc_links VALUES ('upload_references', 'target_id', 'target_type', 'User'), ('reviewables', 'target_id', 'target_type', 'User');
SELECT count(*) AS links FROM (SELECT CASE WHEN typ_col IS NULL THEN privacy.link('user', tbl, col)
	ELSE privacy.link('user', tbl, col, typ_col, typ_val) END FROM dc_links) l;
SELECT count(*) AS linked FROM privacy.subject_tables WHERE subject = 'user' AND via = 'link';
-- a few columns classified: export carries those (portable) of the same rows
SELECT privacy.classify('users', 'name', 'user.name'), privacy.classify('users', 'username', 'user.account.username'),
	privacy.classify('users', 'ip_address', 'user.device.ip_address'), privacy.classify('user_emails', 'email', 'user.contact.email'),
	privacy.classify('user_profiles', 'location', 'user.location.imprecise'), privacy.classify('posts', 'raw', 'user.content.public'),
	privacy.classify('user_auth_tokens', 'client_ip', 'user.device.ip_address');
-- the independent walk: the root row, the rows of dc_links, then every row
-- whose foreign key points at one of them, to a fixed point
CREATE TABLE dc_rows (tbl regclass, tid tid, PRIMARY KEY (tbl, tid));
CREATE FUNCTION dc_walk(id bigint) RETURNS void LANGUAGE plpgsql AS $$
DECLARE e record; cond text; n bigint; grown bigint; l record;
BEGIN
	TRUNCATE dc_rows;
	INSERT INTO dc_rows SELECT 'users', ctid FROM users u WHERE u.id = dc_walk.id;
	FOR l IN SELECT * FROM dc_links LOOP
		IF l.typ_col IS NULL THEN
			EXECUTE format('INSERT INTO dc_rows SELECT %L::regclass, ctid FROM %s WHERE %I = $1 ON CONFLICT DO NOTHING',
				l.tbl, l.tbl, l.col) USING id;
		ELSE
			EXECUTE format('INSERT INTO dc_rows SELECT %L::regclass, ctid FROM %s WHERE %I = $1 AND %I = $2 ON CONFLICT DO NOTHING',
				l.tbl, l.tbl, l.col, l.typ_col) USING id, l.typ_val;
		END IF;
	END LOOP;
	LOOP
		grown := 0;
		FOR e IN SELECT c.conrelid::regclass AS child, c.confrelid::regclass AS parent, c.conkey, c.confkey
			FROM pg_constraint c WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace
			AND c.conrelid <> 'users'::regclass
		LOOP
			SELECT string_agg(format('c.%I = p.%I', ca.attname, pa.attname), ' AND ') INTO cond
			  FROM unnest(e.conkey, e.confkey) k(ck, pk)
			  JOIN pg_attribute ca ON ca.attrelid = e.child AND ca.attnum = k.ck
			  JOIN pg_attribute pa ON pa.attrelid = e.parent AND pa.attnum = k.pk;
			EXECUTE format('INSERT INTO dc_rows SELECT %L::regclass, c.ctid FROM %s c WHERE EXISTS (SELECT 1 FROM %s p'
				' WHERE %s AND p.ctid IN (SELECT tid FROM dc_rows WHERE tbl = %L::regclass)) ON CONFLICT DO NOTHING',
				e.child, e.child, e.parent, cond, e.parent);
			GET DIAGNOSTICS n = ROW_COUNT;
			grown := grown + n;
		END LOOP;
		EXIT WHEN grown = 0;
	END LOOP;
END $$;
CREATE FUNCTION dc_counts() RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE r jsonb := '{}'; c record; n bigint;
BEGIN
	FOR c IN SELECT oid::regclass t FROM pg_class WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace
		AND relname NOT IN ('dc_rows', 'dc_links') LOOP
		EXECUTE format('SELECT count(*) FROM %s', c.t) INTO n;
		r := r || jsonb_build_object('public.' || c.t::text, n);
	END LOOP;
	RETURN r;
END $$;
CREATE FUNCTION dc_access_diff() RETURNS TABLE (usr bigint, tbl text, walk bigint, access bigint, export bigint)
LANGUAGE plpgsql AS $$
DECLARE i bigint;
BEGIN
	FOR i IN -1..7 LOOP
		PERFORM dc_walk(i);
		RETURN QUERY
		WITH w AS (SELECT 'public.' || x.tbl::text t, count(*) n FROM dc_rows x GROUP BY 1),
		     p AS (SELECT k t, jsonb_array_length(v)::bigint n FROM jsonb_each(privacy.access('user', i::text) -> 'data') e(k, v)),
		     x AS (SELECT k t, jsonb_array_length(v)::bigint n FROM jsonb_each(privacy.export('user', i::text) -> 'tables') e(k, v))
		SELECT i::bigint, coalesce(w.t, p.t, x.t), w.n, p.n, x.n FROM w FULL JOIN p ON w.t = p.t FULL JOIN x ON x.t = coalesce(w.t, p.t)
		 WHERE w.n IS DISTINCT FROM p.n OR (x.t IS NOT NULL AND w.n IS DISTINCT FROM x.n);
	END LOOP;
END $$;
-- erase, rolled back: the receipt counts what disappeared, exactly the
-- walk's rows disappeared, the dry run's receipt is the erasure's
CREATE FUNCTION dc_erase_diff(ids bigint[], sh text DEFAULT 'delete')
RETURNS TABLE (usr bigint, tbl text, walk bigint, deleted bigint, removed bigint, dry_same boolean)
LANGUAGE plpgsql AS $$
DECLARE i bigint; d jsonb; r jsonb; before jsonb; after jsonb;
BEGIN
	FOREACH i IN ARRAY ids LOOP
		BEGIN
			PERFORM dc_walk(i);
			before := dc_counts();
			d := privacy.erase('user', i::text, dry_run => true, shared => sh);
			r := privacy.erase('user', i::text, shared => sh);
			after := dc_counts();
			RETURN QUERY
			WITH w AS (SELECT 'public.' || x.tbl::text t, count(*) n FROM dc_rows x GROUP BY 1),
			     a AS (SELECT k t, (before ->> k)::bigint - (after ->> k)::bigint AS n FROM jsonb_object_keys(before) k)
			SELECT i, a.t, w.n, (r -> 'tables' -> a.t ->> 'deleted')::bigint, a.n,
				(d - 'request' - 'dry_run') = (r - 'request' - 'dry_run')
			  FROM a LEFT JOIN w ON w.t = a.t
			 WHERE coalesce((r -> 'tables' -> a.t ->> 'deleted')::bigint, 0) <> a.n
			    OR (sh = 'delete' AND a.n <> coalesce(w.n, 0))
			    OR (d - 'request' - 'dry_run') <> (r - 'request' - 'dry_run');
			RAISE EXCEPTION USING ERRCODE = 'P0001';
		EXCEPTION WHEN SQLSTATE 'P0001' THEN NULL;
		END;
	END LOOP;
END $$;

-- access and export of every user (and of ids with no user) against the
-- walk: no line, all equal
SELECT * FROM dc_access_diff();
-- erin's rows: her bookmarks only (not bob's of post 5 nor alice's of
-- topic 5), her posts and topics (not post 5, bob's, nor topic 5, carol's,
-- nor the posts of others in her topics), the staff log of dave's actions
-- on her and of hers
SELECT k AS tbl, jsonb_array_length(v) AS n FROM jsonb_each(privacy.access('user', '5') -> 'data') e(k, v) ORDER BY 1;
SELECT k AS tbl, jsonb_array_length(v) AS n FROM jsonb_each(privacy.export('user', '5') -> 'tables') e(k, v) ORDER BY 1;
SELECT e ->> 'email' AS email FROM jsonb_array_elements(privacy.export('user', '5') -> 'tables' -> 'public.user_emails') e ORDER BY 1;
SELECT b ->> 'bookmarkable_type' AS type, b ->> 'bookmarkable_id' AS id
  FROM jsonb_array_elements(privacy.access('user', '5') -> 'data' -> 'public.bookmarks') b ORDER BY 1, 2;
SELECT count(*) FILTER (WHERE (p ->> 'id') = '5') AS post_5, count(*) FILTER (WHERE (p ->> 'user_id') <> '5') AS others
  FROM jsonb_array_elements(privacy.access('user', '5') -> 'data' -> 'public.posts') p;
SELECT count(*) AS others_posts_in_erins_topics FROM posts p JOIN topics t ON t.id = p.topic_id WHERE t.user_id = 5 AND p.user_id <> 5;

-- erase every user, rolled back each time: the receipt, the rows that
-- disappeared and the walk agree, and so does the dry run (no line)
SELECT * FROM dc_erase_diff(ARRAY[-1, 1, 2, 3, 4, 5, 6, 7]::bigint[]);

-- the dry run's receipt for erin: rows shared with another user (both
-- sides of a mute, dave's log entries about her) are counted apart
SELECT jsonb_pretty(privacy.erase('user', '5', dry_run => true) - 'request' - 'tables' - 'subject_ref');
-- shared => 'keep' is refused before anything changes: the other side of
-- the activity stream and of mutes (user_actions.user_id, muted_users) is
-- NOT NULL and cannot be detached (Discourse deletes both sides too)
\set VERBOSITY terse
SELECT privacy.erase('user', '4', shared => 'keep');
\set VERBOSITY default
-- a DBA who keeps the staff log (Discourse keeps user_histories) and
-- unlinks the other sides of the activity stream, mutes and ignores: dave's
-- log entries about others stay, detached (acting_user_id NULL), and the
-- system user's about him (target_user_id NULL); his posts and own rows go
BEGIN;
SELECT privacy.unlink('user', 'user_actions', 'acting_user_id'), privacy.unlink('user', 'user_actions', 'target_user_id'),
	privacy.unlink('user', 'muted_users', 'muted_user_id'), privacy.unlink('user', 'ignored_users', 'ignored_user_id');
SELECT count(*) AS dave_acted_on_others FROM user_histories WHERE acting_user_id = 4 AND target_user_id IS DISTINCT FROM 4;
SELECT k AS tbl, v FROM jsonb_each(privacy.erase('user', '4', shared => 'keep') -> 'tables') e(k, v)
 WHERE k IN ('public.user_histories', 'public.users', 'public.posts') ORDER BY 1;
SELECT count(*) FILTER (WHERE acting_user_id IS NULL) AS detached, count(*) FILTER (WHERE 4 IN (acting_user_id, target_user_id)) AS still_dave
  FROM user_histories;
ROLLBACK;

-- a column that says who else a row concerns (posts.reply_to_user_id,
-- topics.last_post_user_id, featured_user1_id, deleted_by_id,
-- last_editor_id) makes another person's row the subject's too, shared:
-- erasing erin would delete bob's replies to her.  Not declared here.
BEGIN;
SELECT privacy.link('user', 'posts', 'reply_to_user_id');
SELECT (r -> 'tables' -> 'public.posts' ->> 'deleted')::int AS posts_deleted, r -> 'shared' -> 'public.posts' AS posts_shared
  FROM privacy.erase('user', '5', dry_run => true) r;
ROLLBACK;

-- erin for real: what is left of hers, and what stays of the others: post
-- 5, topic 5, the bookmarks of post 5 and topic 5, others' posts in her
-- topics, the upload reference of post 5 and the reviewables of post 5 and
-- topic 5 (not hers).  Her profile's upload reference (target_type
-- 'UserProfile', target_id her user id) stays too: a column is linked with
-- one type value per subject type, here 'User'
SELECT dc_walk(5);
SELECT count(*) AS erins_rows FROM dc_rows;
SELECT k AS tbl, v ->> 'deleted' AS deleted FROM jsonb_each(privacy.erase('user', '5') -> 'tables') e(k, v)
 WHERE (v ->> 'deleted')::int > 0 ORDER BY 1;
SELECT count(*) AS rows_left FROM dc_rows r WHERE EXISTS (SELECT FROM users u WHERE u.tableoid = r.tbl AND u.ctid = r.tid);
SELECT (SELECT user_id FROM posts WHERE id = 5) AS post_5_by, (SELECT user_id FROM topics WHERE id = 5) AS topic_5_by,
	(SELECT count(*) FROM bookmarks WHERE bookmarkable_id = 5) AS bookmarks_of_5,
	(SELECT count(*) FROM posts WHERE topic_id IN (4, 10)) AS posts_left_in_her_topics,
	(SELECT string_agg(target_type, ', ' ORDER BY target_type) FROM upload_references WHERE target_id = 5) AS upload_refs_5,
	(SELECT count(*) FROM reviewables WHERE target_id = 5) AS reviewables_5;
SELECT (privacy.access('user', '5') -> 'data') = '{}' AS nothing_left;

SELECT privacy.drop_subject('user');
DROP FUNCTION dc_erase_diff(bigint[], text), dc_access_diff(), dc_counts(), dc_walk(bigint);
DROP TABLE dc_rows, dc_links;
DROP TABLE user_chat_channel_memberships, chat_messages, chat_channels, reviewables, incoming_emails, email_logs, invited_users, invites, user_profiles, upload_references, user_uploads, uploads, notifications, bookmarks, drafts, post_timings, post_revisions, post_actions, posts, topic_links, topic_allowed_users, topic_users, topics, tags, category_users, categories, group_users, groups, ignored_users, muted_users, user_warnings, user_badges, badges, user_actions, user_histories, user_visits, user_custom_fields, email_change_requests, email_tokens, user_associated_accounts, user_second_factors, user_security_keys, api_keys, user_api_keys, user_auth_token_logs, user_auth_tokens, user_options, user_stats, user_emails, users;
DROP EXTENSION privacy;
