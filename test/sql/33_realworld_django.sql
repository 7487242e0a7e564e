-- A Django site's schema: django.contrib (auth, admin, contenttypes,
-- sessions, sites, flatpages, redirects), django-allauth (account),
-- django-taggit, django-contrib-comments, django-guardian, django-reversion
-- (the Debian 12 packages), healthchecks/healthchecks' accounts and api
-- models (transcribed, fields reduced), django-activity-stream's Action
-- (transcribed) and a blog app with multi-table
-- inheritance (blog_article's primary key entry_ptr_id is its foreign key
-- to blog_entry), PROTECT and SET_NULL keys.  The DDL below is Django
-- 3.2's own: `django-admin sqlmigrate` of every migration in the order of
-- `showmigrations --plan` (PostgreSQL backend), pasted unchanged (one
-- transaction instead of one per migration).  What Django's DDL has that
-- the other schemas lack:
-- - every foreign key DEFERRABLE INITIALLY DEFERRED and NO ACTION (Django
--   emulates CASCADE, PROTECT and SET_NULL in Python): the erasure sets
--   them IMMEDIATE and deletes referencing rows first itself;
-- - generic relations: (content_type_id, object_id) with content_type_id
--   a foreign key to django_content_type, so the "type" is an integer id;
--   object_id integer (taggit), text (admin log) or varchar (comments,
--   guardian, reversion).  The five-argument link() expresses them with
--   the content type's id as type_value;
-- - M2M join tables with their own serial id (auth_user_groups,
--   auth_user_user_permissions, api_channel_checks, blog_article_likes);
-- - django_session: the user id is inside session_data (base64 of a
--   signed JSON), with no column to link: not mapped (sessions expire;
--   Django deletes them at logout and with clearsessions).
-- The defects it found:
-- - every erasure named all the database's initially deferred constraints
--   in SET CONSTRAINTS ... IMMEDIATE (and DEFERRED after), quadratic in
--   their triggers (8-13 ms for a 200-table Django schema, bench/75_django.sh);
--   without a user's trigger or rule it now names those its statements can
--   queue events of (a table it only deletes from: the keys referencing it);
-- - discover_links() proposed none of the generic relations (it knew
--   Rails' x_id beside x_type only).  object_id or object_pk beside
--   content_type_id (or prefixed: actor_object_id beside
--   actor_content_type_id, django-activity-stream), the type column a
--   foreign key to a table with app_label and model, is now proposed with
--   the content type of the root's model (app_label_model = the root's
--   table name, else model = the subject's name).
-- What it records (not defects): Django's SET_NULL is NO ACTION in the
-- database, so anonymize mode needs ON DELETE SET NULL there (23503
-- otherwise).  A generic relation to another model than
-- the user (taggit's tags on the user's articles, content type blog.article)
-- is linked to that model's table (link(..., target)): the tags of her
-- articles go with them, as Django's collector deletes them through a
-- GenericRelation.  A SET_NULL key (blog_entry.editor_id) is
-- NO ACTION in the database: another user's entry that the erased user
-- edited is a shared row, deleted by default; shared => 'keep' refuses here
-- because accounts_member's NOT NULL keys cannot be detached.
SET client_min_messages = warning;
CREATE EXTENSION privacy;
BEGIN;
CREATE TABLE "django_content_type" ("id" serial NOT NULL PRIMARY KEY, "name" varchar(100) NOT NULL, "app_label" varchar(100) NOT NULL, "model" varchar(100) NOT NULL);
ALTER TABLE "django_content_type" ADD CONSTRAINT "django_content_type_app_label_model_76bd3d3b_uniq" UNIQUE ("app_label", "model");
CREATE TABLE "auth_permission" ("id" serial NOT NULL PRIMARY KEY, "name" varchar(50) NOT NULL, "content_type_id" integer NOT NULL, "codename" varchar(100) NOT NULL);
CREATE TABLE "auth_group" ("id" serial NOT NULL PRIMARY KEY, "name" varchar(80) NOT NULL UNIQUE);
CREATE TABLE "auth_group_permissions" ("id" serial NOT NULL PRIMARY KEY, "group_id" integer NOT NULL, "permission_id" integer NOT NULL);
CREATE TABLE "auth_user" ("id" serial NOT NULL PRIMARY KEY, "password" varchar(128) NOT NULL, "last_login" timestamp with time zone NOT NULL, "is_superuser" boolean NOT NULL, "username" varchar(30) NOT NULL UNIQUE, "first_name" varchar(30) NOT NULL, "last_name" varchar(30) NOT NULL, "email" varchar(75) NOT NULL, "is_staff" boolean NOT NULL, "is_active" boolean NOT NULL, "date_joined" timestamp with time zone NOT NULL);
CREATE TABLE "auth_user_groups" ("id" serial NOT NULL PRIMARY KEY, "user_id" integer NOT NULL, "group_id" integer NOT NULL);
CREATE TABLE "auth_user_user_permissions" ("id" serial NOT NULL PRIMARY KEY, "user_id" integer NOT NULL, "permission_id" integer NOT NULL);
ALTER TABLE "auth_permission" ADD CONSTRAINT "auth_permission_content_type_id_codename_01ab375a_uniq" UNIQUE ("content_type_id", "codename");
ALTER TABLE "auth_permission" ADD CONSTRAINT "auth_permission_content_type_id_2f476e4b_fk_django_co" FOREIGN KEY ("content_type_id") REFERENCES "django_content_type" ("id") DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX "auth_permission_content_type_id_2f476e4b" ON "auth_permission" ("content_type_id");
CREATE INDEX "auth_group_name_a6ea08ec_like" ON "auth_group" ("name" varchar_pattern_ops);
ALTER TABLE "auth_group_permissions" ADD CONSTRAINT "auth_group_permissions_group_id_permission_id_0cd325b0_uniq" UNIQUE ("group_id", "permission_id");
ALTER TABLE "auth_group_permissions" ADD CONSTRAINT "auth_group_permissions_group_id_b120cbf9_fk_auth_group_id" FOREIGN KEY ("group_id") REFERENCES "auth_group" ("id") DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE "auth_group_permissions" ADD CONSTRAINT "auth_group_permissio_permission_id_84c5c92e_fk_auth_perm" FOREIGN KEY ("permission_id") REFERENCES "auth_permission" ("id") DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX "auth_group_permissions_group_id_b120cbf9" ON "auth_group_permissions" ("group_id");
CREATE INDEX "auth_group_permissions_permission_id_84c5c92e" ON "auth_group_permissions" ("permission_id");
CREATE INDEX "auth_user_username_6821ab7c_like" ON "auth_user" ("username" varchar_pattern_ops);
ALTER TABLE "auth_user_groups" ADD CONSTRAINT "auth_user_groups_user_id_group_id_94350c0c_uniq" UNIQUE ("user_id", "group_id");
ALTER TABLE "auth_user_groups" ADD CONSTRAINT "auth_user_groups_user_id_6a12ed8b_fk_auth_user_id" FOREIGN KEY ("user_id") REFERENCES "auth_user" ("id") DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE "auth_user_groups" ADD CONSTRAINT "auth_user_groups_group_id_97559544_fk_auth_group_id" FOREIGN KEY ("group_id") REFERENCES "auth_group" ("id") DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX "auth_user_groups_user_id_6a12ed8b" ON "auth_user_groups" ("user_id");
CREATE INDEX "auth_user_groups_group_id_97559544" ON "auth_user_groups" ("group_id");
ALTER TABLE "auth_user_user_permissions" ADD CONSTRAINT "auth_user_user_permissions_user_id_permission_id_14a6b632_uniq" UNIQUE ("user_id", "permission_id");
ALTER TABLE "auth_user_user_permissions" ADD CONSTRAINT "auth_user_user_permissions_user_id_a95ead1b_fk_auth_user_id" FOREIGN KEY ("user_id") REFERENCES "auth_user" ("id") DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE "auth_user_user_permissions" ADD CONSTRAINT "auth_user_user_permi_permission_id_1fbb5f2c_fk_auth_perm" FOREIGN KEY ("permission_id") REFERENCES "auth_permission" ("id") DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX "auth_user_user_permissions_user_id_a95ead1b" ON "auth_user_user_permissions" ("user_id");
CREATE INDEX "auth_user_user_permissions_permission_id_1fbb5f2c" ON "auth_user_user_permissions" ("permission_id");
CREATE TABLE "account_emailaddress" ("id" serial NOT NULL PRIMARY KEY, "email" varchar(75) NOT NULL UNIQUE, "verified" boolean NOT NULL, "primary" boolean NOT NULL, "user_id" integer NOT NULL);
CREATE TABLE "account_emailconfirmation" ("id" serial NOT NULL PRIMARY KEY, "created" timestamp with time zone NOT NULL, "sent" timestamp with time zone NULL, "key" varchar(64) NOT NULL UNIQUE, "email_address_id" integer NOT NULL);
ALTER TABLE "account_emailaddress" ADD CONSTRAINT "account_emailaddress_user_id_2c513194_fk_auth_user_id" FOREIGN KEY ("user_id") REFERENCES "auth_user" ("id") DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX "account_emailaddress_email_03be32b2_like" ON "account_emailaddress" ("email" varchar_pattern_ops);
CREATE INDEX "account_emailaddress_user_id_2c513194" ON "account_emailaddress" ("user_id");
ALTER TABLE "account_emailconfirmation" ADD CONSTRAINT "account_emailconfirm_email_address_id_5b7f8c58_fk_account_e" FOREIGN KEY ("email_address_id") REFERENCES "account_emailaddress" ("id") DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX "account_emailconfirmation_key_f43612bd_like" ON "account_emailconfirmation" ("key" varchar_pattern_ops);
CREATE INDEX "account_emailconfirmation_email_address_id_5b7f8c58" ON "account_emailconfirmation" ("email_address_id");
ALTER TABLE "account_emailaddress" ALTER COLUMN "email" TYPE varchar(254);
CREATE TABLE "accounts_project" ("id" serial NOT NULL PRIMARY KEY, "code" uuid NOT NULL UNIQUE, "name" varchar(200) NOT NULL, "api_key" varchar(128) NOT NULL, "badge_key" varchar(150) NOT NULL UNIQUE, "owner_id" integer NOT NULL);
CREATE TABLE "accounts_profile" ("id" serial NOT NULL PRIMARY KEY, "next_report_date" timestamp with time zone NULL, "reports" varchar(10) NOT NULL, "nag_period" interval NOT NULL, "token" varchar(128) NOT NULL, "tz" varchar(36) NOT NULL, "totp" varchar(32) NULL, "user_id" integer NOT NULL UNIQUE);
CREATE TABLE "accounts_member" ("id" serial NOT NULL PRIMARY KEY, "transfer_request_date" timestamp with time zone NULL, "role" varchar(1) NOT NULL, "project_id" integer NOT NULL, "user_id" integer NOT NULL);
CREATE TABLE "accounts_credential" ("id" serial NOT NULL PRIMARY KEY, "code" uuid NOT NULL UNIQUE, "name" varchar(100) NOT NULL, "created" timestamp with time zone NOT NULL, "data" bytea NOT NULL, "user_id" integer NOT NULL);
ALTER TABLE "accounts_member" ADD CONSTRAINT "accounts_member_no_duplicates" UNIQUE ("user_id", "project_id");
ALTER TABLE "accounts_project" ADD CONSTRAINT "accounts_project_owner_id_9e658e68_fk_auth_user_id" FOREIGN KEY ("owner_id") REFERENCES "auth_user" ("id") DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX "accounts_project_api_key_d70dc8ad" ON "accounts_project" ("api_key");
CREATE INDEX "accounts_project_api_key_d70dc8ad_like" ON "accounts_project" ("api_key" varchar_pattern_ops);
CREATE INDEX "accounts_project_badge_key_8fe67ffd_like" ON "accounts_project" ("badge_key" varchar_pattern_ops);
CREATE INDEX "accounts_project_owner_id_9e658e68" ON "accounts_project" ("owner_id");
ALTER TABLE "accounts_profile" ADD CONSTRAINT "accounts_profile_user_id_49a85d32_fk_auth_user_id" FOREIGN KEY ("user_id") REFERENCES "auth_user" ("id") DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE "accounts_member" ADD CONSTRAINT "accounts_member_project_id_111a002b_fk_accounts_project_id" FOREIGN KEY ("project_id") REFERENCES "accounts_project" ("id") DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE "accounts_member" ADD CONSTRAINT "accounts_member_user_id_b994c8b6_fk_auth_user_id" FOREIGN KEY ("user_id") REFERENCES "auth_user" ("id") DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX "accounts_member_project_id_111a002b" ON "accounts_member" ("project_id");
CREATE INDEX "accounts_member_user_id_b994c8b6" ON "accounts_member" ("user_id");
ALTER TABLE "accounts_credential" ADD CONSTRAINT "accounts_credential_user_id_400058ca_fk_auth_user_id" FOREIGN KEY ("user_id") REFERENCES "auth_user" ("id") DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX "accounts_credential_user_id_400058ca" ON "accounts_credential" ("user_id");
CREATE TABLE "django_admin_log" ("id" serial NOT NULL PRIMARY KEY, "action_time" timestamp with time zone NOT NULL, "object_id" text NULL, "object_repr" varchar(200) NOT NULL, "action_flag" smallint NOT NULL CHECK ("action_flag" >= 0), "change_message" text NOT NULL, "content_type_id" integer NULL, "user_id" integer NOT NULL);
ALTER TABLE "django_admin_log" ADD CONSTRAINT "django_admin_log_content_type_id_c4bce8eb_fk_django_co" FOREIGN KEY ("content_type_id") REFERENCES "django_content_type" ("id") DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE "django_admin_log" ADD CONSTRAINT "django_admin_log_user_id_c564eba6_fk_auth_user_id" FOREIGN KEY ("user_id") REFERENCES "auth_user" ("id") DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX "django_admin_log_content_type_id_c4bce8eb" ON "django_admin_log" ("content_type_id");
CREATE INDEX "django_admin_log_user_id_c564eba6" ON "django_admin_log" ("user_id");
CREATE TABLE "api_channel" ("id" serial NOT NULL PRIMARY KEY, "name" varchar(100) NOT NULL, "code" uuid NOT NULL UNIQUE, "kind" varchar(20) NOT NULL, "value" text NOT NULL);
CREATE TABLE "api_check" ("id" serial NOT NULL PRIMARY KEY, "name" varchar(100) NOT NULL, "code" uuid NOT NULL UNIQUE, "created" timestamp with time zone NOT NULL, "n_pings" integer NOT NULL, "last_ping" timestamp with time zone NULL, "status" varchar(6) NOT NULL, "project_id" integer NOT NULL);
CREATE TABLE "api_ping" ("id" bigserial NOT NULL PRIMARY KEY, "n" integer NULL, "created" timestamp with time zone NOT NULL, "remote_addr" inet NULL, "ua" varchar(200) NOT NULL, "body_raw" bytea NULL, "owner_id" integer NOT NULL);
CREATE TABLE "api_notification" ("id" serial NOT NULL PRIMARY KEY, "code" uuid NOT NULL UNIQUE, "check_status" varchar(6) NOT NULL, "created" timestamp with time zone NOT NULL, "channel_id" integer NOT NULL, "owner_id" integer NULL);
CREATE TABLE "api_flip" ("id" serial NOT NULL PRIMARY KEY, "created" timestamp with time zone NOT NULL, "old_status" varchar(8) NOT NULL, "new_status" varchar(8) NOT NULL, "owner_id" integer NOT NULL);
CREATE TABLE "api_channel_checks" ("id" serial NOT NULL PRIMARY KEY, "channel_id" integer NOT NULL, "check_id" integer NOT NULL);
ALTER TABLE "api_channel" ADD COLUMN "project_id" integer NOT NULL CONSTRAINT "api_channel_project_id_1ae78745_fk_accounts_project_id" REFERENCES "accounts_project"("id") DEFERRABLE INITIALLY DEFERRED; SET CONSTRAINTS "api_channel_project_id_1ae78745_fk_accounts_project_id" IMMEDIATE;
ALTER TABLE "api_check" ADD CONSTRAINT "api_check_project_id_2af7b4db_fk_accounts_project_id" FOREIGN KEY ("project_id") REFERENCES "accounts_project" ("id") DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX "api_check_project_id_2af7b4db" ON "api_check" ("project_id");
ALTER TABLE "api_ping" ADD CONSTRAINT "api_ping_owner_id_e4ea931d_fk_api_check_id" FOREIGN KEY ("owner_id") REFERENCES "api_check" ("id") DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX "api_ping_owner_id_e4ea931d" ON "api_ping" ("owner_id");
ALTER TABLE "api_notification" ADD CONSTRAINT "api_notification_channel_id_4df05d31_fk_api_channel_id" FOREIGN KEY ("channel_id") REFERENCES "api_channel" ("id") DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE "api_notification" ADD CONSTRAINT "api_notification_owner_id_9b970e8a_fk_api_check_id" FOREIGN KEY ("owner_id") REFERENCES "api_check" ("id") DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX "api_notification_channel_id_4df05d31" ON "api_notification" ("channel_id");
CREATE INDEX "api_notification_owner_id_9b970e8a" ON "api_notification" ("owner_id");
ALTER TABLE "api_flip" ADD CONSTRAINT "api_flip_owner_id_4ccc8bee_fk_api_check_id" FOREIGN KEY ("owner_id") REFERENCES "api_check" ("id") DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX "api_flip_owner_id_4ccc8bee" ON "api_flip" ("owner_id");
ALTER TABLE "api_channel_checks" ADD CONSTRAINT "api_channel_checks_channel_id_check_id_8edbcb0d_uniq" UNIQUE ("channel_id", "check_id");
ALTER TABLE "api_channel_checks" ADD CONSTRAINT "api_channel_checks_channel_id_0a1351bf_fk_api_channel_id" FOREIGN KEY ("channel_id") REFERENCES "api_channel" ("id") DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE "api_channel_checks" ADD CONSTRAINT "api_channel_checks_check_id_2f0bca8a_fk_api_check_id" FOREIGN KEY ("check_id") REFERENCES "api_check" ("id") DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX "api_channel_checks_channel_id_0a1351bf" ON "api_channel_checks" ("channel_id");
CREATE INDEX "api_channel_checks_check_id_2f0bca8a" ON "api_channel_checks" ("check_id");
CREATE INDEX "api_channel_project_id_1ae78745" ON "api_channel" ("project_id");
ALTER TABLE "django_content_type" ALTER COLUMN "name" DROP NOT NULL;
ALTER TABLE "django_content_type" DROP COLUMN "name" CASCADE;
ALTER TABLE "auth_permission" ALTER COLUMN "name" TYPE varchar(255);
ALTER TABLE "auth_user" ALTER COLUMN "email" TYPE varchar(254);
ALTER TABLE "auth_user" ALTER COLUMN "last_login" DROP NOT NULL;
ALTER TABLE "auth_user" ALTER COLUMN "username" TYPE varchar(150);
ALTER TABLE "auth_user" ALTER COLUMN "last_name" TYPE varchar(150);
ALTER TABLE "auth_group" ALTER COLUMN "name" TYPE varchar(150);
ALTER TABLE "auth_user" ALTER COLUMN "first_name" TYPE varchar(150);
CREATE TABLE "taggit_tag" ("id" serial NOT NULL PRIMARY KEY, "name" varchar(100) NOT NULL UNIQUE, "slug" varchar(100) NOT NULL UNIQUE);
CREATE TABLE "taggit_taggeditem" ("id" serial NOT NULL PRIMARY KEY, "object_id" integer NOT NULL, "content_type_id" integer NOT NULL, "tag_id" integer NOT NULL);
CREATE INDEX "taggit_tag_name_58eb2ed9_like" ON "taggit_tag" ("name" varchar_pattern_ops);
CREATE INDEX "taggit_tag_slug_6be58b2c_like" ON "taggit_tag" ("slug" varchar_pattern_ops);
ALTER TABLE "taggit_taggeditem" ADD CONSTRAINT "taggit_taggeditem_content_type_id_9957a03c_fk_django_co" FOREIGN KEY ("content_type_id") REFERENCES "django_content_type" ("id") DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE "taggit_taggeditem" ADD CONSTRAINT "taggit_taggeditem_tag_id_f4f5b767_fk_taggit_tag_id" FOREIGN KEY ("tag_id") REFERENCES "taggit_tag" ("id") DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX "taggit_taggeditem_object_id_e2d7d1df" ON "taggit_taggeditem" ("object_id");
CREATE INDEX "taggit_taggeditem_content_type_id_9957a03c" ON "taggit_taggeditem" ("content_type_id");
CREATE INDEX "taggit_taggeditem_tag_id_f4f5b767" ON "taggit_taggeditem" ("tag_id");
CREATE INDEX "taggit_taggeditem_content_type_id_object_id_196cc965_idx" ON "taggit_taggeditem" ("content_type_id", "object_id");
ALTER TABLE "taggit_taggeditem" ADD CONSTRAINT "taggit_taggeditem_content_type_id_object_i_4bb97a8e_uniq" UNIQUE ("content_type_id", "object_id", "tag_id");
CREATE TABLE "blog_entry" ("id" serial NOT NULL PRIMARY KEY, "title" varchar(200) NOT NULL, "created" timestamp with time zone NOT NULL, "author_id" integer NOT NULL, "editor_id" integer NULL);
CREATE TABLE "blog_article" ("entry_ptr_id" integer NOT NULL PRIMARY KEY, "body" text NOT NULL);
CREATE TABLE "blog_article_likes" ("id" serial NOT NULL PRIMARY KEY, "article_id" integer NOT NULL, "user_id" integer NOT NULL);
ALTER TABLE "blog_entry" ADD CONSTRAINT "blog_entry_author_id_81ca74ac_fk_auth_user_id" FOREIGN KEY ("author_id") REFERENCES "auth_user" ("id") DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE "blog_entry" ADD CONSTRAINT "blog_entry_editor_id_f5ac03cc_fk_auth_user_id" FOREIGN KEY ("editor_id") REFERENCES "auth_user" ("id") DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX "blog_entry_author_id_81ca74ac" ON "blog_entry" ("author_id");
CREATE INDEX "blog_entry_editor_id_f5ac03cc" ON "blog_entry" ("editor_id");
ALTER TABLE "blog_article" ADD CONSTRAINT "blog_article_entry_ptr_id_e55d06fd_fk_blog_entry_id" FOREIGN KEY ("entry_ptr_id") REFERENCES "blog_entry" ("id") DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE "blog_article_likes" ADD CONSTRAINT "blog_article_likes_article_id_user_id_809b7b73_uniq" UNIQUE ("article_id", "user_id");
ALTER TABLE "blog_article_likes" ADD CONSTRAINT "blog_article_likes_article_id_dd540806_fk_blog_arti" FOREIGN KEY ("article_id") REFERENCES "blog_article" ("entry_ptr_id") DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE "blog_article_likes" ADD CONSTRAINT "blog_article_likes_user_id_115f1a18_fk_auth_user_id" FOREIGN KEY ("user_id") REFERENCES "auth_user" ("id") DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX "blog_article_likes_article_id_dd540806" ON "blog_article_likes" ("article_id");
CREATE INDEX "blog_article_likes_user_id_115f1a18" ON "blog_article_likes" ("user_id");
CREATE TABLE "django_site" ("id" serial NOT NULL PRIMARY KEY, "domain" varchar(100) NOT NULL, "name" varchar(50) NOT NULL);
CREATE TABLE "django_comments" ("id" serial NOT NULL PRIMARY KEY, "object_pk" text NOT NULL, "user_name" varchar(50) NOT NULL, "user_email" varchar(75) NOT NULL, "user_url" varchar(200) NOT NULL, "comment" text NOT NULL, "submit_date" timestamp with time zone NOT NULL, "ip_address" inet NULL, "is_public" boolean NOT NULL, "is_removed" boolean NOT NULL, "content_type_id" integer NOT NULL, "site_id" integer NOT NULL, "user_id" integer NULL);
CREATE TABLE "django_comment_flags" ("id" serial NOT NULL PRIMARY KEY, "flag" varchar(30) NOT NULL, "flag_date" timestamp with time zone NOT NULL, "comment_id" integer NOT NULL, "user_id" integer NOT NULL);
ALTER TABLE "django_comment_flags" ADD CONSTRAINT "django_comment_flags_user_id_comment_id_flag_537f77a7_uniq" UNIQUE ("user_id", "comment_id", "flag");
ALTER TABLE "django_comments" ADD CONSTRAINT "django_comments_content_type_id_c4afe962_fk_django_co" FOREIGN KEY ("content_type_id") REFERENCES "django_content_type" ("id") DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE "django_comments" ADD CONSTRAINT "django_comments_site_id_9dcf666e_fk_django_site_id" FOREIGN KEY ("site_id") REFERENCES "django_site" ("id") DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE "django_comments" ADD CONSTRAINT "django_comments_user_id_a0a440a1_fk_auth_user_id" FOREIGN KEY ("user_id") REFERENCES "auth_user" ("id") DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX "django_comments_content_type_id_c4afe962" ON "django_comments" ("content_type_id");
CREATE INDEX "django_comments_site_id_9dcf666e" ON "django_comments" ("site_id");
CREATE INDEX "django_comments_user_id_a0a440a1" ON "django_comments" ("user_id");
ALTER TABLE "django_comment_flags" ADD CONSTRAINT "django_comment_flags_comment_id_d8054933_fk_django_comments_id" FOREIGN KEY ("comment_id") REFERENCES "django_comments" ("id") DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE "django_comment_flags" ADD CONSTRAINT "django_comment_flags_user_id_f3f81f0a_fk_auth_user_id" FOREIGN KEY ("user_id") REFERENCES "auth_user" ("id") DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX "django_comment_flags_flag_8b141fcb" ON "django_comment_flags" ("flag");
CREATE INDEX "django_comment_flags_flag_8b141fcb_like" ON "django_comment_flags" ("flag" varchar_pattern_ops);
CREATE INDEX "django_comment_flags_comment_id_d8054933" ON "django_comment_flags" ("comment_id");
CREATE INDEX "django_comment_flags_user_id_f3f81f0a" ON "django_comment_flags" ("user_id");
ALTER TABLE "django_comments" ALTER COLUMN "user_email" TYPE varchar(254);
CREATE INDEX "django_comments_submit_date_514ed2d9" ON "django_comments" ("submit_date");
CREATE INDEX "django_comments_is_removed_52a03ae3" ON "django_comments" ("is_removed");
ALTER TABLE "django_comments" ALTER COLUMN "object_pk" TYPE varchar(64) USING "object_pk"::varchar(64);
CREATE INDEX "django_comments_object_pk_7fc98e83" ON "django_comments" ("object_pk");
CREATE INDEX "django_comments_object_pk_7fc98e83_like" ON "django_comments" ("object_pk" varchar_pattern_ops);
CREATE TABLE "django_flatpage" ("id" serial NOT NULL PRIMARY KEY, "url" varchar(100) NOT NULL, "title" varchar(200) NOT NULL, "content" text NOT NULL, "enable_comments" boolean NOT NULL, "template_name" varchar(70) NOT NULL, "registration_required" boolean NOT NULL);
CREATE TABLE "django_flatpage_sites" ("id" serial NOT NULL PRIMARY KEY, "flatpage_id" integer NOT NULL, "site_id" integer NOT NULL);
CREATE INDEX "django_flatpage_url_41612362" ON "django_flatpage" ("url");
CREATE INDEX "django_flatpage_url_41612362_like" ON "django_flatpage" ("url" varchar_pattern_ops);
ALTER TABLE "django_flatpage_sites" ADD CONSTRAINT "django_flatpage_sites_flatpage_id_site_id_0d29d9d1_uniq" UNIQUE ("flatpage_id", "site_id");
ALTER TABLE "django_flatpage_sites" ADD CONSTRAINT "django_flatpage_site_flatpage_id_078bbc8b_fk_django_fl" FOREIGN KEY ("flatpage_id") REFERENCES "django_flatpage" ("id") DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE "django_flatpage_sites" ADD CONSTRAINT "django_flatpage_sites_site_id_bfd8ea84_fk_django_site_id" FOREIGN KEY ("site_id") REFERENCES "django_site" ("id") DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX "django_flatpage_sites_flatpage_id_078bbc8b" ON "django_flatpage_sites" ("flatpage_id");
CREATE INDEX "django_flatpage_sites_site_id_bfd8ea84" ON "django_flatpage_sites" ("site_id");
CREATE TABLE "guardian_groupobjectpermission" ("id" serial NOT NULL PRIMARY KEY, "object_pk" varchar(255) NOT NULL, "content_type_id" integer NOT NULL, "group_id" integer NOT NULL, "permission_id" integer NOT NULL);
CREATE TABLE "guardian_userobjectpermission" ("id" serial NOT NULL PRIMARY KEY, "object_pk" varchar(255) NOT NULL, "content_type_id" integer NOT NULL, "permission_id" integer NOT NULL, "user_id" integer NOT NULL);
ALTER TABLE "guardian_userobjectpermission" ADD CONSTRAINT "guardian_userobjectpermi_user_id_permission_id_ob_b0b3d2fc_uniq" UNIQUE ("user_id", "permission_id", "object_pk");
ALTER TABLE "guardian_groupobjectpermission" ADD CONSTRAINT "guardian_groupobjectperm_group_id_permission_id_o_3f189f7c_uniq" UNIQUE ("group_id", "permission_id", "object_pk");
ALTER TABLE "guardian_groupobjectpermission" ADD CONSTRAINT "guardian_groupobject_content_type_id_7ade36b8_fk_django_co" FOREIGN KEY ("content_type_id") REFERENCES "django_content_type" ("id") DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE "guardian_groupobjectpermission" ADD CONSTRAINT "guardian_groupobject_group_id_4bbbfb62_fk_auth_grou" FOREIGN KEY ("group_id") REFERENCES "auth_group" ("id") DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE "guardian_groupobjectpermission" ADD CONSTRAINT "guardian_groupobject_permission_id_36572738_fk_auth_perm" FOREIGN KEY ("permission_id") REFERENCES "auth_permission" ("id") DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX "guardian_groupobjectpermission_content_type_id_7ade36b8" ON "guardian_groupobjectpermission" ("content_type_id");
CREATE INDEX "guardian_groupobjectpermission_group_id_4bbbfb62" ON "guardian_groupobjectpermission" ("group_id");
CREATE INDEX "guardian_groupobjectpermission_permission_id_36572738" ON "guardian_groupobjectpermission" ("permission_id");
ALTER TABLE "guardian_userobjectpermission" ADD CONSTRAINT "guardian_userobjectp_content_type_id_2e892405_fk_django_co" FOREIGN KEY ("content_type_id") REFERENCES "django_content_type" ("id") DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE "guardian_userobjectpermission" ADD CONSTRAINT "guardian_userobjectp_permission_id_71807bfc_fk_auth_perm" FOREIGN KEY ("permission_id") REFERENCES "auth_permission" ("id") DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE "guardian_userobjectpermission" ADD CONSTRAINT "guardian_userobjectpermission_user_id_d5c1e964_fk_auth_user_id" FOREIGN KEY ("user_id") REFERENCES "auth_user" ("id") DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX "guardian_userobjectpermission_content_type_id_2e892405" ON "guardian_userobjectpermission" ("content_type_id");
CREATE INDEX "guardian_userobjectpermission_permission_id_71807bfc" ON "guardian_userobjectpermission" ("permission_id");
CREATE INDEX "guardian_userobjectpermission_user_id_d5c1e964" ON "guardian_userobjectpermission" ("user_id");
CREATE INDEX "guardian_gr_content_ae6aec_idx" ON "guardian_groupobjectpermission" ("content_type_id", "object_pk");
CREATE INDEX "guardian_us_content_179ed2_idx" ON "guardian_userobjectpermission" ("content_type_id", "object_pk");
CREATE TABLE "django_redirect" ("id" serial NOT NULL PRIMARY KEY, "site_id" integer NOT NULL, "old_path" varchar(200) NOT NULL, "new_path" varchar(200) NOT NULL);
ALTER TABLE "django_redirect" ADD CONSTRAINT "django_redirect_site_id_old_path_ac5dd16b_uniq" UNIQUE ("site_id", "old_path");
ALTER TABLE "django_redirect" ADD CONSTRAINT "django_redirect_site_id_c3e37341_fk_django_site_id" FOREIGN KEY ("site_id") REFERENCES "django_site" ("id") DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX "django_redirect_site_id_c3e37341" ON "django_redirect" ("site_id");
CREATE INDEX "django_redirect_old_path_c6cc94d3" ON "django_redirect" ("old_path");
CREATE INDEX "django_redirect_old_path_c6cc94d3_like" ON "django_redirect" ("old_path" varchar_pattern_ops);
CREATE TABLE "reversion_revision" ("id" serial NOT NULL PRIMARY KEY, "date_created" timestamp with time zone NOT NULL, "comment" text NOT NULL, "user_id" integer NULL);
CREATE TABLE "reversion_version" ("id" serial NOT NULL PRIMARY KEY, "object_id" varchar(191) NOT NULL, "format" varchar(255) NOT NULL, "serialized_data" text NOT NULL, "object_repr" text NOT NULL, "content_type_id" integer NOT NULL, "revision_id" integer NOT NULL, "db" varchar(191) NOT NULL);
ALTER TABLE "reversion_version" ADD CONSTRAINT "reversion_version_db_content_type_id_objec_b2c54f65_uniq" UNIQUE ("db", "content_type_id", "object_id", "revision_id");
ALTER TABLE "reversion_revision" ADD CONSTRAINT "reversion_revision_user_id_17095f45_fk_auth_user_id" FOREIGN KEY ("user_id") REFERENCES "auth_user" ("id") DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX "reversion_revision_date_created_96f7c20c" ON "reversion_revision" ("date_created");
CREATE INDEX "reversion_revision_user_id_17095f45" ON "reversion_revision" ("user_id");
ALTER TABLE "reversion_version" ADD CONSTRAINT "reversion_version_content_type_id_7d0ff25c_fk_django_co" FOREIGN KEY ("content_type_id") REFERENCES "django_content_type" ("id") DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE "reversion_version" ADD CONSTRAINT "reversion_version_revision_id_af9f6a9d_fk_reversion_revision_id" FOREIGN KEY ("revision_id") REFERENCES "reversion_revision" ("id") DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX "reversion_version_content_type_id_7d0ff25c" ON "reversion_version" ("content_type_id");
CREATE INDEX "reversion_version_revision_id_af9f6a9d" ON "reversion_version" ("revision_id");
CREATE INDEX "reversion_v_content_f95daf_idx" ON "reversion_version" ("content_type_id", "db");
CREATE TABLE "django_session" ("session_key" varchar(40) NOT NULL PRIMARY KEY, "session_data" text NOT NULL, "expire_date" timestamp with time zone NOT NULL);
CREATE INDEX "django_session_session_key_c0390e0f_like" ON "django_session" ("session_key" varchar_pattern_ops);
CREATE INDEX "django_session_expire_date_a5c62663" ON "django_session" ("expire_date");
ALTER TABLE "django_site" ADD CONSTRAINT "django_site_domain_a2e37b91_uniq" UNIQUE ("domain");
CREATE INDEX "django_site_domain_a2e37b91_like" ON "django_site" ("domain" varchar_pattern_ops);
-- django-activity-stream's Action (three generic relations, prefixed:
-- actor_, target_, action_object_), its model transcribed, sqlmigrate's DDL
CREATE TABLE "actstream_action" ("id" serial NOT NULL PRIMARY KEY, "actor_object_id" varchar(255) NOT NULL, "verb" varchar(255) NOT NULL, "description" text NULL, "target_object_id" varchar(255) NULL, "action_object_object_id" varchar(255) NULL, "timestamp" timestamp with time zone NOT NULL, "public" boolean NOT NULL, "action_object_content_type_id" integer NULL, "actor_content_type_id" integer NOT NULL, "target_content_type_id" integer NULL);
ALTER TABLE "actstream_action" ADD CONSTRAINT "actstream_action_action_object_conten_ee623c15_fk_django_co" FOREIGN KEY ("action_object_content_type_id") REFERENCES "django_content_type" ("id") DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE "actstream_action" ADD CONSTRAINT "actstream_action_actor_content_type_i_d5e5ec2a_fk_django_co" FOREIGN KEY ("actor_content_type_id") REFERENCES "django_content_type" ("id") DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE "actstream_action" ADD CONSTRAINT "actstream_action_target_content_type__187fa164_fk_django_co" FOREIGN KEY ("target_content_type_id") REFERENCES "django_content_type" ("id") DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX "actstream_action_actor_object_id_72ef0cfa" ON "actstream_action" ("actor_object_id");
CREATE INDEX "actstream_action_actor_object_id_72ef0cfa_like" ON "actstream_action" ("actor_object_id" varchar_pattern_ops);
CREATE INDEX "actstream_action_verb_83f768b7" ON "actstream_action" ("verb");
CREATE INDEX "actstream_action_verb_83f768b7_like" ON "actstream_action" ("verb" varchar_pattern_ops);
CREATE INDEX "actstream_action_target_object_id_e080d801" ON "actstream_action" ("target_object_id");
CREATE INDEX "actstream_action_target_object_id_e080d801_like" ON "actstream_action" ("target_object_id" varchar_pattern_ops);
CREATE INDEX "actstream_action_action_object_object_id_6433bdf7" ON "actstream_action" ("action_object_object_id");
CREATE INDEX "actstream_action_action_object_object_id_6433bdf7_like" ON "actstream_action" ("action_object_object_id" varchar_pattern_ops);
CREATE INDEX "actstream_action_timestamp_a23fe3ae" ON "actstream_action" ("timestamp");
CREATE INDEX "actstream_action_public_ac0653e9" ON "actstream_action" ("public");
CREATE INDEX "actstream_action_action_object_content_type_id_ee623c15" ON "actstream_action" ("action_object_content_type_id");
CREATE INDEX "actstream_action_actor_content_type_id_d5e5ec2a" ON "actstream_action" ("actor_content_type_id");
CREATE INDEX "actstream_action_target_content_type_id_187fa164" ON "actstream_action" ("target_content_type_id");
COMMIT;
-- the data: alice (1) has rows everywhere, bob (2) and carol (3) share some
INSERT INTO django_content_type (id, app_label, model) VALUES
	(1, 'admin', 'logentry'), (2, 'auth', 'permission'), (3, 'auth', 'group'), (4, 'auth', 'user'),
	(5, 'contenttypes', 'contenttype'), (6, 'sessions', 'session'), (7, 'accounts', 'project'),
	(8, 'blog', 'entry'), (9, 'blog', 'article'), (10, 'django_comments', 'comment'),
	(11, 'actstream', 'action'), (12, 'sites', 'site'), (13, 'legacy', 'user');
INSERT INTO auth_permission (id, name, content_type_id, codename) VALUES
	(1, 'Can change user', 4, 'change_user'), (2, 'Can view project', 7, 'view_project'),
	(3, 'Can change entry', 8, 'change_entry');
INSERT INTO auth_group (id, name) VALUES (1, 'editors');
INSERT INTO auth_group_permissions (group_id, permission_id) VALUES (1, 3);
INSERT INTO auth_user (id, password, last_login, is_superuser, username, first_name, last_name, email, is_staff, is_active, date_joined) VALUES
	(1, 'pbkdf2_sha256$260000$a$x', now(), false, 'alice', 'Alice', 'Liddell', 'alice@example.org', true, true, now()),
	(2, 'pbkdf2_sha256$260000$b$y', now(), true, 'bob', 'Bob', 'Dylan', 'bob@example.org', true, true, now()),
	(3, 'pbkdf2_sha256$260000$c$z', NULL, false, 'carol', 'Carol', 'King', 'carol@example.org', false, true, now());
INSERT INTO auth_user_groups (user_id, group_id) VALUES (1, 1), (2, 1);
INSERT INTO auth_user_user_permissions (user_id, permission_id) VALUES (1, 2), (3, 1);
-- allauth
INSERT INTO account_emailaddress (id, email, verified, "primary", user_id) VALUES
	(1, 'alice@example.org', true, true, 1), (2, 'alice@work.example', false, false, 1), (3, 'bob@example.org', true, true, 2);
INSERT INTO account_emailconfirmation (created, sent, key, email_address_id) VALUES
	(now(), now(), 'k1', 2), (now(), now(), 'k3', 3);
-- healthchecks: alice's project (bob a member), bob's project (alice a member)
INSERT INTO accounts_profile (user_id, reports, nag_period, token, tz) VALUES
	(1, 'monthly', '0', '', 'UTC'), (2, 'off', '1 hour', '', 'Europe/Berlin');
INSERT INTO accounts_project (id, code, name, api_key, badge_key, owner_id) VALUES
	(1, gen_random_uuid(), 'alice-prod', 'ka', 'ba', 1), (2, gen_random_uuid(), 'bob-prod', 'kb', 'bb', 2);
INSERT INTO accounts_member (user_id, project_id, role) VALUES (2, 1, 'w'), (1, 2, 'r'), (3, 2, 'w');
INSERT INTO accounts_credential (code, name, created, data, user_id) VALUES
	(gen_random_uuid(), 'yubikey', now(), '\x00', 1);
INSERT INTO api_check (id, name, code, project_id, created, n_pings, status) VALUES
	(1, 'backup', gen_random_uuid(), 1, now(), 2, 'up'), (2, 'cron', gen_random_uuid(), 2, now(), 1, 'up');
INSERT INTO api_ping (owner_id, n, created, remote_addr, ua) VALUES
	(1, 1, now(), '192.0.2.1', 'curl'), (1, 2, now(), '192.0.2.1', 'curl'), (2, 1, now(), '198.51.100.7', 'wget');
INSERT INTO api_flip (owner_id, created, old_status, new_status) VALUES (1, now(), 'new', 'up'), (2, now(), 'new', 'up');
INSERT INTO api_channel (id, name, code, kind, value, project_id) VALUES
	(1, 'mail', gen_random_uuid(), 'email', 'alice@example.org', 1), (2, 'mail', gen_random_uuid(), 'email', 'bob@example.org', 2);
INSERT INTO api_channel_checks (channel_id, check_id) VALUES (1, 1), (2, 2);
INSERT INTO api_notification (code, owner_id, check_status, channel_id, created) VALUES
	(gen_random_uuid(), 1, 'down', 1, now()), (gen_random_uuid(), 2, 'down', 2, now());
-- blog: multi-table inheritance (an article is an entry), PROTECT and SET_NULL keys
INSERT INTO blog_entry (id, title, created, author_id, editor_id) VALUES
	(1, 'alice writes', now(), 1, NULL), (2, 'bob writes', now(), 2, 1), (3, 'carol writes', now(), 3, NULL);
INSERT INTO blog_article (entry_ptr_id, body) VALUES (1, 'a'), (2, 'b'), (3, 'c');
INSERT INTO blog_article_likes (article_id, user_id) VALUES (1, 2), (2, 1), (3, 1), (3, 2);
-- taggit: tags on articles and on a user (generic relations, integer object_id)
INSERT INTO taggit_tag (id, name, slug) VALUES (1, 'python', 'python'), (2, 'vip', 'vip');
INSERT INTO taggit_taggeditem (object_id, content_type_id, tag_id) VALUES (1, 9, 1), (2, 9, 1), (1, 4, 2), (2, 4, 2), (1, 8, 2);
-- admin log: alice's own actions; bob's action on alice's account (object_id text)
INSERT INTO django_admin_log (action_time, object_id, object_repr, action_flag, change_message, content_type_id, user_id) VALUES
	(now(), '2', 'bob writes', 2, '[]', 8, 1),
	(now(), '1', 'alice', 2, '[{"changed": {"fields": ["Email address"]}}]', 4, 2),
	(now(), '1', 'alice-prod', 2, '[]', 7, 2),
	(now(), '3', 'carol', 1, '[]', 4, 2),
	(now(), '1', 'example.com', 2, '[]', 12, 2),
	(now(), '1', 'old alice', 2, '[]', 13, 2);
-- django-contrib-comments: alice comments bob's article; bob comments on alice's profile
INSERT INTO django_site (id, domain, name) VALUES (1, 'example.com', 'example.com');
INSERT INTO django_comments (id, object_pk, user_name, user_email, user_url, comment, submit_date, ip_address, is_public, is_removed, content_type_id, site_id, user_id) VALUES
	(1, '2', 'alice', 'alice@example.org', '', 'nice', now(), '192.0.2.1', true, false, 9, 1, 1),
	(2, '1', 'bob', 'bob@example.org', '', 'hi alice', now(), '198.51.100.7', true, false, 4, 1, 2),
	(3, '1', 'carol', 'carol@example.org', '', 'hi alice too', now(), NULL, true, false, 4, 1, 3),
	(4, '1', 'bob', 'bob@example.org', '', 'hi project', now(), NULL, true, false, 7, 1, 2);
INSERT INTO django_comment_flags (flag, flag_date, comment_id, user_id) VALUES ('removal suggestion', now(), 1, 2), ('moderator approval', now(), 2, 1);
-- guardian: object permissions (object_pk text)
INSERT INTO guardian_userobjectpermission (object_pk, content_type_id, permission_id, user_id) VALUES
	('1', 7, 2, 1), ('1', 4, 1, 2), ('2', 4, 1, 1);
INSERT INTO guardian_groupobjectpermission (object_pk, content_type_id, group_id, permission_id) VALUES ('1', 4, 1, 1);
-- reversion: revisions by alice and bob; a version of alice's account in bob's revision
INSERT INTO reversion_revision (id, date_created, comment, user_id) VALUES (1, now(), 'edit', 1), (2, now(), 'admin edit', 2);
INSERT INTO reversion_version (object_id, format, serialized_data, object_repr, content_type_id, revision_id, db) VALUES
	('2', 'json', '[{"model": "blog.entry"}]', 'bob writes', 8, 1, 'default'),
	('1', 'json', '[{"model": "auth.user", "fields": {"email": "alice@example.org"}}]', 'alice', 4, 2, 'default'),
	('3', 'json', '[{"model": "auth.user"}]', 'carol', 4, 2, 'default');
-- activity stream: alice liked bob's article; bob wrote on alice's profile; carol followed alice's article
INSERT INTO actstream_action (actor_content_type_id, actor_object_id, verb, target_content_type_id, target_object_id, timestamp, public) VALUES
	(4, '1', 'liked', 9, '2', now(), true), (4, '2', 'wrote on', 4, '1', now(), true), (4, '3', 'followed', 9, '1', now(), true);
-- sessions: the user id inside session_data (base64), no key to follow
INSERT INTO django_session VALUES
	('s1', encode(convert_to('x:{"_auth_user_id":"1","_auth_user_backend":"django.contrib.auth.backends.ModelBackend"}', 'UTF8'), 'base64'), now() + interval '14 days'),
	('s2', encode(convert_to('x:{"_auth_user_id":"2"}', 'UTF8'), 'base64'), now() + interval '14 days');
-- every row of the site, as (table, row)
CREATE FUNCTION dj_rows() RETURNS TABLE (tbl text, r jsonb) LANGUAGE plpgsql AS $$
DECLARE t text;
BEGIN
	FOR t IN SELECT c.relname FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r' LOOP
		RETURN QUERY EXECUTE format('SELECT %L::text, to_jsonb(x) FROM public.%I x', t, t);
	END LOOP;
END $$;
-- an independent walk of user 1's rows, written from Django's on_delete
-- (CASCADE everywhere but blog_entry.editor SET_NULL, reversion's
-- revision.user SET_NULL; the generic relations whose object is a user)
CREATE FUNCTION dj_expected(u int) RETURNS TABLE (tbl text, r jsonb) LANGUAGE sql AS $$
	WITH ct AS (SELECT id FROM django_content_type WHERE app_label = 'auth' AND model = 'user'),
	proj AS (SELECT id FROM accounts_project WHERE owner_id = u),
	chk AS (SELECT id FROM api_check WHERE project_id IN (SELECT id FROM proj)),
	chan AS (SELECT id FROM api_channel WHERE project_id IN (SELECT id FROM proj)),
	entry AS (SELECT id FROM blog_entry WHERE author_id = u OR editor_id = u),
	com AS (SELECT id FROM django_comments WHERE user_id = u
		OR (content_type_id IN (SELECT id FROM ct) AND object_pk = u::text)),
	email AS (SELECT id FROM account_emailaddress WHERE user_id = u),
	rev AS (SELECT id FROM reversion_revision WHERE user_id = u)
	SELECT 'auth_user', to_jsonb(x) FROM auth_user x WHERE id = u
	UNION ALL SELECT 'auth_user_groups', to_jsonb(x) FROM auth_user_groups x WHERE user_id = u
	UNION ALL SELECT 'auth_user_user_permissions', to_jsonb(x) FROM auth_user_user_permissions x WHERE user_id = u
	UNION ALL SELECT 'account_emailaddress', to_jsonb(x) FROM account_emailaddress x WHERE id IN (SELECT id FROM email)
	UNION ALL SELECT 'account_emailconfirmation', to_jsonb(x) FROM account_emailconfirmation x WHERE email_address_id IN (SELECT id FROM email)
	UNION ALL SELECT 'accounts_profile', to_jsonb(x) FROM accounts_profile x WHERE user_id = u
	UNION ALL SELECT 'accounts_credential', to_jsonb(x) FROM accounts_credential x WHERE user_id = u
	UNION ALL SELECT 'accounts_project', to_jsonb(x) FROM accounts_project x WHERE id IN (SELECT id FROM proj)
	UNION ALL SELECT 'accounts_member', to_jsonb(x) FROM accounts_member x WHERE user_id = u OR project_id IN (SELECT id FROM proj)
	UNION ALL SELECT 'api_check', to_jsonb(x) FROM api_check x WHERE id IN (SELECT id FROM chk)
	UNION ALL SELECT 'api_channel', to_jsonb(x) FROM api_channel x WHERE id IN (SELECT id FROM chan)
	UNION ALL SELECT 'api_ping', to_jsonb(x) FROM api_ping x WHERE owner_id IN (SELECT id FROM chk)
	UNION ALL SELECT 'api_flip', to_jsonb(x) FROM api_flip x WHERE owner_id IN (SELECT id FROM chk)
	UNION ALL SELECT 'api_notification', to_jsonb(x) FROM api_notification x WHERE owner_id IN (SELECT id FROM chk) OR channel_id IN (SELECT id FROM chan)
	UNION ALL SELECT 'api_channel_checks', to_jsonb(x) FROM api_channel_checks x WHERE check_id IN (SELECT id FROM chk) OR channel_id IN (SELECT id FROM chan)
	UNION ALL SELECT 'blog_entry', to_jsonb(x) FROM blog_entry x WHERE id IN (SELECT id FROM entry)
	UNION ALL SELECT 'blog_article', to_jsonb(x) FROM blog_article x WHERE entry_ptr_id IN (SELECT id FROM entry)
	UNION ALL SELECT 'blog_article_likes', to_jsonb(x) FROM blog_article_likes x WHERE user_id = u OR article_id IN (SELECT id FROM entry)
	UNION ALL SELECT 'django_admin_log', to_jsonb(x) FROM django_admin_log x WHERE user_id = u
		OR (content_type_id IN (SELECT id FROM ct) AND object_id = u::text)
	UNION ALL SELECT 'django_comments', to_jsonb(x) FROM django_comments x WHERE id IN (SELECT id FROM com)
	UNION ALL SELECT 'django_comment_flags', to_jsonb(x) FROM django_comment_flags x WHERE user_id = u OR comment_id IN (SELECT id FROM com)
	UNION ALL SELECT 'guardian_userobjectpermission', to_jsonb(x) FROM guardian_userobjectpermission x WHERE user_id = u
		OR (content_type_id IN (SELECT id FROM ct) AND object_pk = u::text)
	UNION ALL SELECT 'guardian_groupobjectpermission', to_jsonb(x) FROM guardian_groupobjectpermission x
		WHERE content_type_id IN (SELECT id FROM ct) AND object_pk = u::text
	UNION ALL SELECT 'reversion_revision', to_jsonb(x) FROM reversion_revision x WHERE id IN (SELECT id FROM rev)
	UNION ALL SELECT 'reversion_version', to_jsonb(x) FROM reversion_version x WHERE revision_id IN (SELECT id FROM rev)
		OR (content_type_id IN (SELECT id FROM ct) AND object_id = u::text)
	UNION ALL SELECT 'actstream_action', to_jsonb(x) FROM actstream_action x
		WHERE (actor_content_type_id IN (SELECT id FROM ct) AND actor_object_id = u::text)
		OR (target_content_type_id IN (SELECT id FROM ct) AND target_object_id = u::text)
	UNION ALL SELECT 'taggit_taggeditem', to_jsonb(x) FROM taggit_taggeditem x
		WHERE content_type_id IN (SELECT id FROM ct) AND object_id = u
		-- the tags of her articles (a generic relation to blog.article)
		OR (content_type_id IN (SELECT id FROM django_content_type WHERE app_label = 'blog' AND model = 'article')
		    AND object_id IN (SELECT id FROM entry))
$$;

SELECT privacy.define_subject('user', 'auth_user');
-- the map: every table with a foreign key path to auth_user (24 of 36);
-- content types, permissions, groups, sites, flatpages, redirects, tags
-- and sessions are nobody's
SELECT table_name, via, depth, path FROM privacy.subject_tables WHERE subject = 'user' ORDER BY depth, table_name::text;
SELECT c.relname FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'
	AND c.oid NOT IN (SELECT table_name FROM privacy.subject_tables WHERE subject = 'user') ORDER BY 1;
-- discover_links: candidates for the generic relations
SELECT table_name, column_name, type_column, type_value, confidence, matched, sampled
	FROM privacy.discover_links('user') ORDER BY table_name::text, column_name;
-- the generic relations whose object is a user: type_value is the id of
-- the content type auth.user, as text
SELECT id::text AS ct_user FROM django_content_type WHERE app_label = 'auth' AND model = 'user' \gset
SELECT privacy.link('user', 'django_admin_log', 'object_id', 'content_type_id', :'ct_user');
SELECT privacy.link('user', 'taggit_taggeditem', 'object_id', 'content_type_id', :'ct_user');
SELECT privacy.link('user', 'django_comments', 'object_pk', 'content_type_id', :'ct_user');
SELECT privacy.link('user', 'guardian_userobjectpermission', 'object_pk', 'content_type_id', :'ct_user');
SELECT privacy.link('user', 'guardian_groupobjectpermission', 'object_pk', 'content_type_id', :'ct_user');
SELECT privacy.link('user', 'reversion_version', 'object_id', 'content_type_id', :'ct_user');
SELECT privacy.link('user', 'actstream_action', 'actor_object_id', 'actor_content_type_id', :'ct_user');
SELECT privacy.link('user', 'actstream_action', 'target_object_id', 'target_content_type_id', :'ct_user');
-- a generic relation to another model: taggit's tags on her articles, by
-- the content type blog.article, linked to blog_article (its key
-- entry_ptr_id); the same column keeps its link for the users' tags
SELECT id::text AS ct_article FROM django_content_type WHERE app_label = 'blog' AND model = 'article' \gset
SELECT privacy.link('user', 'taggit_taggeditem', 'object_id', 'content_type_id', :'ct_article', 'blog_article');
SELECT table_name, path FROM privacy.subject_tables WHERE subject = 'user' AND path ~ 'content_type_id' ORDER BY 1::text;
-- nothing left to propose
SELECT count(*) FROM privacy.discover_links('user');
-- classification proposals; applied
SELECT table_name, column_name, category, confidence FROM privacy.discover() ORDER BY table_name::text, column_name;
SELECT count(*) FROM privacy.apply_discovery(0.6);
-- access: alice's rows, table by table, against the independent walk
SELECT k AS tbl, jsonb_array_length(v) AS rows FROM jsonb_each(privacy.access('user', '1') -> 'data') AS e(k, v) ORDER BY 1;
SELECT (SELECT count(*) FROM jsonb_each(privacy.access('user', '1') -> 'data') e, jsonb_array_elements(e.value) x)
	= (SELECT count(*) FROM dj_expected(1)) AS access_counts_match;
SELECT e.tbl, count(*) FROM dj_expected(1) e
	WHERE NOT EXISTS (SELECT FROM jsonb_array_elements(privacy.access('user', '1') -> 'data' -> ('public.' || e.tbl)) a
		WHERE a.value = e.r) GROUP BY 1;
-- the dry run's receipt is what the walk expects, table by table
CREATE TEMP TABLE want AS SELECT * FROM dj_expected(1);
SELECT k AS tbl, v ->> 'deleted' AS deleted, (SELECT count(*) FROM want w WHERE 'public.' || w.tbl = k) AS expected
	FROM jsonb_each(privacy.erase('user', '1', dry_run => true) -> 'tables') AS e(k, v)
	WHERE (v ->> 'deleted')::int <> (SELECT count(*) FROM want w WHERE 'public.' || w.tbl = k) OR v ->> 'anonymized' <> '0';
SELECT r -> 'shared' AS shared, r -> 'retained' AS retained, (SELECT count(*) FROM jsonb_object_keys(r -> 'tables')) AS tables
	FROM privacy.erase('user', '1', dry_run => true) r;
-- shared => 'keep': bob's membership in alice's project cannot be detached
-- (NOT NULL, NO ACTION: Django's CASCADE is in Python)
SELECT privacy.erase('user', '1', shared => 'keep');
-- the erasure, in a transaction with Django's deferred constraints
CREATE TEMP TABLE before AS SELECT * FROM dj_rows();
CREATE TEMP TABLE dry AS SELECT privacy.erase('user', '1', dry_run => true) AS r;
BEGIN;
CREATE TEMP TABLE receipt AS SELECT privacy.erase('user', '1') AS r;
-- the constraints are deferred again: a dangling key is accepted until commit
INSERT INTO auth_user_groups (user_id, group_id) VALUES (99, 1);
DELETE FROM auth_user_groups WHERE user_id = 99;
COMMIT;
SELECT k AS tbl, (v ->> 'deleted')::int AS deleted FROM receipt, jsonb_each(r -> 'tables') AS e(k, v) ORDER BY 1;
-- the rows gone are exactly alice's, every other row is untouched
CREATE TEMP TABLE gone AS SELECT * FROM before EXCEPT ALL SELECT * FROM dj_rows();
SELECT (SELECT count(*) FROM gone) AS gone, (SELECT count(*) FROM want) AS expected,
	(SELECT count(*) FROM (SELECT * FROM gone EXCEPT ALL SELECT * FROM want) x) AS not_hers,
	(SELECT count(*) FROM (SELECT * FROM want EXCEPT ALL SELECT * FROM gone) x) AS missed,
	(SELECT count(*) FROM (SELECT * FROM dj_rows() EXCEPT ALL SELECT * FROM before) x) AS changed;
SELECT sum((v ->> 'deleted')::int) = (SELECT count(*) FROM want) AS receipt_counts_rows FROM receipt, jsonb_each(r -> 'tables') AS e(k, v);
SELECT (SELECT r -> 'tables' FROM receipt) = (SELECT r -> 'tables' FROM dry) AS receipt_is_dry_run;
-- what stays: bob's tag, the tag of her entry as a blog.entry (another
-- content type, not linked; the tags of her articles went with them, the
-- article of bob's she edited being a shared row); her session (not mapped)
SELECT object_id, content_type_id, tag_id FROM taggit_taggeditem ORDER BY content_type_id, object_id;
SELECT session_key FROM django_session ORDER BY 1;
-- no foreign key is violated (the constraints were checked)
SELECT count(*) FROM blog_article a WHERE NOT EXISTS (SELECT FROM blog_entry e WHERE e.id = a.entry_ptr_id);
-- bob: a user with nothing of alice left
SELECT privacy.erase('user', '2', dry_run => true) -> 'tables' -> 'public.accounts_member' AS bob_members;
SELECT privacy.access('user', '1') -> 'data' AS alice_now;
-- the erasure sets IMMEDIATE the initially deferred constraints whose
-- events its statements can queue: of a table whose rows it only deletes,
-- those with a DELETE trigger there (the keys that reference it), not the
-- table's own keys (their triggers fire on INSERT and UPDATE), when no
-- user's trigger or rule runs.  A dangling content type the transaction
-- wrote before is not checked by the call (it was: 23503 from SET
-- CONSTRAINTS, the whole list of the database's deferred constraints set
-- IMMEDIATE); the commit checks it
BEGIN;
INSERT INTO django_admin_log (action_time, object_id, object_repr, action_flag, change_message, content_type_id, user_id)
	VALUES (now(), '9', 'x', 1, '', 999, 3);
SELECT privacy.erase('user', '2') -> 'tables' -> 'public.django_admin_log' AS bob_admin_log;
SAVEPOINT s;
SET CONSTRAINTS ALL IMMEDIATE;
ROLLBACK TO s;
-- a dangling user is checked by the call (auth_user's rows are deleted)
UPDATE django_admin_log SET content_type_id = 1 WHERE content_type_id = 999;
UPDATE django_admin_log SET user_id = 99 WHERE user_id = 3;
\set VERBOSITY terse
SELECT privacy.erase('user', '3') -> 'tables' -> 'public.django_admin_log';
\set VERBOSITY default
ROLLBACK;
-- Django's SET_NULL (django_comments.user) is NO ACTION in the database:
-- anonymize mode cannot keep a comment that references the erased user
SELECT privacy.set_erasure_mode('django_comments', 'anonymize');
BEGIN;
INSERT INTO django_comments (object_pk, user_name, user_email, user_url, comment, submit_date, ip_address, is_public, is_removed, content_type_id, site_id, user_id)
	VALUES ('2', 'carol', 'carol@example.org', '', 'new', now(), '192.0.2.9', true, false, 9, 1, 3);
SELECT privacy.erase('user', '3', dry_run => true);
ROLLBACK;
-- with ON DELETE SET NULL in the database, the comment stays, anonymized;
-- a row written in this transaction is rewritten (its keys' UPDATE
-- triggers queue their checks: set IMMEDIATE for a table the erasure
-- rewrites, or 42501 "cannot fire deferred trigger")
ALTER TABLE django_comments DROP CONSTRAINT django_comments_user_id_a0a440a1_fk_auth_user_id,
	ADD CONSTRAINT django_comments_user_id_a0a440a1_fk_auth_user_id FOREIGN KEY (user_id) REFERENCES auth_user (id)
	ON DELETE SET NULL DEFERRABLE INITIALLY DEFERRED;
BEGIN;
INSERT INTO django_comments (object_pk, user_name, user_email, user_url, comment, submit_date, ip_address, is_public, is_removed, content_type_id, site_id, user_id)
	VALUES ('2', 'carol', 'carol@example.org', '', 'new', now(), '192.0.2.9', true, false, 9, 1, 3);
SELECT r -> 'tables' -> 'public.django_comments' AS comments, r -> 'tables' -> 'public.auth_user' AS users
	FROM privacy.erase('user', '3') r;
SELECT object_pk, user_name, user_email, ip_address, comment, user_id FROM django_comments ORDER BY id;
COMMIT;
-- a version of carol's account (reversion, linked by its generic
-- relation) kept, anonymized; written in this transaction, so that its
-- rewrite queues the checks of its keys (content type, revision): set
-- IMMEDIATE as the table is rewritten, or 42501
SELECT privacy.classify('reversion_version', 'serialized_data', 'user.content.private', 'redact');
SELECT privacy.set_erasure_mode('reversion_version', 'anonymize');
BEGIN;
INSERT INTO reversion_version (object_id, format, serialized_data, object_repr, content_type_id, revision_id, db)
	VALUES ('3', 'json', '[{"model": "auth.user", "fields": {"email": "carol@example.org"}}]', 'carol', 4, 2, 'default');
SELECT privacy.erase('user', '3') -> 'tables' -> 'public.reversion_version' AS versions;
SELECT object_id, serialized_data, revision_id FROM reversion_version ORDER BY id;
ROLLBACK;
-- discover_links for a model whose table is not app_label_model (the
-- sites app declares db_table 'django_site'): its content type by model
-- name; for user, legacy.user (13) was not proposed beside auth.user
SELECT privacy.define_subject('site', 'django_site');
SELECT table_name, column_name, type_column, type_value, confidence, matched, sampled
	FROM privacy.discover_links('site') ORDER BY table_name::text, column_name;
SELECT privacy.drop_subject('site');

DROP FUNCTION dj_rows(), dj_expected(int);
DROP TABLE actstream_action, django_session, reversion_version, reversion_revision, django_redirect, guardian_userobjectpermission,
	guardian_groupobjectpermission, django_flatpage_sites, django_flatpage, django_comment_flags, django_comments,
	django_site, blog_article_likes, blog_article, blog_entry, taggit_taggeditem, taggit_tag,
	api_channel_checks, api_flip, api_notification, api_ping, api_check, api_channel, django_admin_log,
	accounts_credential, accounts_member, accounts_profile, accounts_project, account_emailconfirmation,
	account_emailaddress, auth_user_user_permissions, auth_user_groups, auth_user, auth_group_permissions,
	auth_group, auth_permission, django_content_type;
DROP EXTENSION privacy;
