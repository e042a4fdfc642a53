package e2e

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/twofoldauth/twofold/mfa"
	"github.com/twofoldauth/twofold/server"
)

// addOrganization bootstraps another organization (admin / adminPassword)
// on the env's database, as a server configured for it does at start-up.
func (e *env) addOrganization(slug string) {
	e.t.Helper()
	cfg := e.cfg
	cfg.BootstrapOrg = slug
	s, err := server.New(context.Background(), cfg, server.WithMFAOptions(mfa.WithClock(e.clock)))
	if err != nil {
		e.t.Fatalf("bootstrap %s: %v", slug, err)
	}
	s.Close()
}

// loginIn logs a user of any organization in as an API client (bearer
// token, no cookies), through the server at url (the env's first server
// when empty).
func (e *env) loginIn(url, org, user, password string) *client {
	e.t.Helper()
	c := e.client()
	if url != "" {
		c.url = url
	}
	c.origin, c.http = "", &http.Client{}
	p, r := c.login(org, user, password)
	if p == nil || p["status"] != "AUTHENTICATED" {
		e.t.Fatalf("login %s/%s: %+v %+v", org, user, p, r.Errors)
	}
	c.token = p["token"].(string)
	return c
}

// trustBrowserFor logs user in with password and a recovery code on a fresh
// API client, asking to trust the browser, and returns that client (a
// session with MFA) and the trusted-browser token.
func trustBrowserFor(t *testing.T, e *env, user, password string, codes *[]any) (*client, string) {
	t.Helper()
	c := e.client()
	c.origin, c.http = "", &http.Client{}
	p := loginStep(t, c, user, password)
	code := (*codes)[0]
	*codes = (*codes)[1:]
	r := verify(c, p["ticket"].(string), "", map[string]any{"recoveryCode": code}, true)
	tok, _ := dig(r.Data, "verifyFactor", "trustedBrowserToken").(string)
	if tok == "" {
		t.Fatalf("no trusted browser for %s: %+v", user, r)
	}
	c.token = dig(r.Data, "verifyFactor", "token").(string)
	return c, tok
}

const (
	userTrustedBrowsersQuery = `query($id: ID!) { userTrustedBrowsers(userId: $id) { id } }`
	revokeTrustedBrowserMut  = `mutation($id: ID!) { revokeTrustedBrowser(input: {trustedBrowserId: $id}) { ok } }`
	revokeAllTrustedMut      = `mutation($id: ID) { revokeAllTrustedBrowsers(input: {userId: $id}) { ok } }`
	setPermissionsMut        = `mutation($id: ID!, $p: [Permission!]) { updateUser(input: {userId: $id, permissions: $p}) { user { permissions } } }`
	deactivateMut            = `mutation($id: ID!) { deactivateUser(input: {userId: $id}) { user { status } } }`
	reactivateMut            = `mutation($id: ID!) { reactivateUser(input: {userId: $id}) { user { status } } }`
)

func trustedBrowserIDs(t *testing.T, admin *client, userID string) []string {
	t.Helper()
	var ids []string
	for _, b := range admin.must(userTrustedBrowsersQuery, map[string]any{"id": userID})["userTrustedBrowsers"].([]any) {
		ids = append(ids, dig(b, "id").(string))
	}
	return ids
}

// A user manager may revoke a plain user's trusted browsers but not an
// organization manager's: the rule that guards every other action on a
// manager guards these too.
func TestUserManagerCannotRevokeManagersTrustedBrowsers(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		admin := e.admin()
		adminID := lookupUserID(t, admin, "admin")
		_, bossID := newUser(t, e, admin, "boss", map[string]any{"permissions": []string{"MANAGE_ORGANIZATION"}})
		hd, _ := newUser(t, e, admin, "helpdesk", map[string]any{"permissions": []string{"MANAGE_USERS"}})
		ivy, ivyID := newUser(t, e, admin, "ivy", nil)

		_, _, adminCodes := enrolTOTP(t, admin, nil)
		_, _, ivyCodes := enrolTOTP(t, ivy, nil)
		admin, _ = trustBrowserFor(t, e, "admin", adminPassword, &adminCodes)
		trustBrowserFor(t, e, "ivy", "ivy-password-1", &ivyCodes)
		trustBrowserFor(t, e, "ivy", "ivy-password-1", &ivyCodes)
		adminBrowsers := trustedBrowserIDs(t, admin, adminID)
		if len(adminBrowsers) != 1 {
			t.Fatalf("admin's trusted browsers: %v", adminBrowsers)
		}

		// The user manager sees the manager's browsers but cannot revoke them.
		if got := trustedBrowserIDs(t, hd, adminID); !slices.Equal(got, adminBrowsers) {
			t.Fatalf("helpdesk lists %v, want %v", got, adminBrowsers)
		}
		r := hd.post(revokeTrustedBrowserMut, map[string]any{"id": adminBrowsers[0]})
		if r.code() != "FORBIDDEN" {
			t.Fatalf("user manager revoking a manager's browser: %+v", r.Errors)
		}
		if r := hd.post(revokeAllTrustedMut, map[string]any{"id": adminID}); r.code() != "FORBIDDEN" {
			t.Fatalf("user manager revoking all of a manager's browsers: %+v", r.Errors)
		}
		if got := trustedBrowserIDs(t, admin, adminID); !slices.Equal(got, adminBrowsers) {
			t.Fatalf("refused revocations changed the manager's browsers: %v", got)
		}

		// A plain user's browsers, one and all: allowed.
		ivyBrowsers := trustedBrowserIDs(t, hd, ivyID)
		if len(ivyBrowsers) != 2 {
			t.Fatalf("ivy's browsers: %v", ivyBrowsers)
		}
		hd.must(revokeTrustedBrowserMut, map[string]any{"id": ivyBrowsers[0]})
		if got := trustedBrowserIDs(t, hd, ivyID); !slices.Equal(got, ivyBrowsers[1:]) {
			t.Fatalf("after revoking one: %v", got)
		}
		hd.must(revokeAllTrustedMut, map[string]any{"id": ivyID})
		if got := trustedBrowserIDs(t, hd, ivyID); len(got) != 0 {
			t.Fatalf("after revoking all: %v", got)
		}

		// Another organization manager may.
		boss := e.loginAs("boss", "boss-password-1")
		_ = bossID
		boss.must(revokeTrustedBrowserMut, map[string]any{"id": adminBrowsers[0]})
		if got := trustedBrowserIDs(t, admin, adminID); len(got) != 0 {
			t.Fatalf("manager's browsers after another manager revoked: %v", got)
		}
	})
}

func permissionsOf(t *testing.T, admin *client, userID string) []string {
	t.Helper()
	d := admin.must(`query($id: ID!) { user(id: $id) { permissions status } }`, map[string]any{"id": userID})
	var out []string
	for _, p := range dig(d, "user", "permissions").([]any) {
		out = append(out, p.(string))
	}
	return out
}

// An organization always keeps an active MANAGE_ORGANIZATION user:
// deactivated managers and other organizations' managers do not count.
func TestLastOrganizationManagerStays(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		e.addOrganization("other")
		admin := e.admin()
		adminID := lookupUserID(t, admin, "admin")
		all := []string{"MANAGE_ORGANIZATION", "MANAGE_USERS", "VIEW_AUDIT"}
		refused := func(who *client, id string, perms []string) {
			t.Helper()
			r := who.post(setPermissionsMut, map[string]any{"id": id, "p": perms})
			if r.code() != "CONFLICT" || r.Errors[0].Extensions["reason"] != "LAST_ORGANIZATION_MANAGER" {
				t.Fatalf("removing the last manager %v: %+v", perms, r.Errors)
			}
		}
		refused(admin, adminID, []string{"MANAGE_USERS", "VIEW_AUDIT"})
		refused(admin, adminID, []string{})
		if got := permissionsOf(t, admin, adminID); !slices.Equal(got, all) {
			t.Fatalf("permissions after refusals: %v", got)
		}

		// With a second manager, either may step down, but not both.
		boss, bossID := newUser(t, e, admin, "boss", map[string]any{"permissions": []string{"MANAGE_ORGANIZATION"}})
		admin.must(setPermissionsMut, map[string]any{"id": adminID, "p": []string{"MANAGE_USERS"}})
		refused(boss, bossID, []string{"VIEW_AUDIT"})
		boss.must(setPermissionsMut, map[string]any{"id": adminID, "p": all})

		// A deactivated manager does not count.
		_, carlID := newUser(t, e, admin, "carl", map[string]any{"permissions": []string{"MANAGE_ORGANIZATION"}})
		admin.must(deactivateMut, map[string]any{"id": carlID})
		boss.must(setPermissionsMut, map[string]any{"id": bossID, "p": []string{}})
		refused(admin, adminID, []string{"VIEW_AUDIT"})
		if got := permissionsOf(t, admin, bossID); len(got) != 0 {
			t.Fatalf("boss after stepping down: %v", got)
		}
		// Reactivating carl makes a second active manager again.
		admin.must(reactivateMut, map[string]any{"id": carlID})
		admin.must(setPermissionsMut, map[string]any{"id": adminID, "p": []string{"VIEW_AUDIT"}})
		if got := permissionsOf(t, e.loginAs("carl", "carl-password-1"), adminID); !slices.Equal(got, []string{"VIEW_AUDIT"}) {
			t.Fatalf("admin after stepping down: %v", got)
		}
	})
}

// Two managers who demote or deactivate each other at the same moment,
// through two servers, leave one: the decision is taken under a lock in
// the transaction that writes it.
func TestManagersRemovingEachOtherInParallelKeepOne(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		second := e.startServer().URL
		admin := e.admin()
		aID := lookupUserID(t, admin, "admin")
		e.createUser(admin, map[string]any{"username": "bea", "email": "bea@example.com", "password": "bea-password-1", "permissions": []string{"MANAGE_ORGANIZATION"}})
		bID := lookupUserID(t, admin, "bea")
		type side struct {
			name, pass, id string
			srv            string
		}
		sides := [2]side{{"admin", adminPassword, aID, e.srv.URL}, {"bea", "bea-password-1", bID, second}}
		kinds := map[string]func(c *client, target string) response{
			"demote": func(c *client, target string) response {
				return c.post(setPermissionsMut, map[string]any{"id": target, "p": []string{"VIEW_AUDIT"}})
			},
			"deactivate": func(c *client, target string) response {
				return c.post(deactivateMut, map[string]any{"id": target})
			},
		}
		const rounds = 8
		conflicts := 0
		for kind, act := range kinds {
			for round := range rounds {
				cs := [2]*client{}
				for i, s := range sides {
					cs[i] = e.loginIn(s.srv, "demo", s.name, s.pass)
				}
				var answers [2]response
				var wg sync.WaitGroup
				start := make(chan struct{})
				for i := range sides {
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-start
						answers[i] = act(cs[i], sides[1-i].id)
					}()
				}
				close(start)
				wg.Wait()
				// Exactly one wins. The other is refused by the rule
				// (CONFLICT) or, when the winner's change committed before
				// the loser's request was authenticated, is no longer
				// logged in (UNAUTHENTICATED) or no longer holds the
				// permission (FORBIDDEN, between the session and user reads).
				winner := -1
				for i, r := range answers {
					switch r.code() {
					case "":
						if winner >= 0 {
							t.Fatalf("%s round %d: both succeeded: %+v", kind, round, answers)
						}
						winner = i
					case "CONFLICT":
						conflicts++
					case "UNAUTHENTICATED", "FORBIDDEN":
					default:
						t.Fatalf("%s round %d: %s answered %+v", kind, round, sides[i].name, r.Errors)
					}
				}
				if winner < 0 {
					t.Fatalf("%s round %d: neither succeeded: %+v", kind, round, answers)
				}
				w, l := sides[winner], sides[1-winner]
				wc := e.loginIn(w.srv, "demo", w.name, w.pass)
				if got := permissionsOf(t, wc, w.id); !slices.Contains(got, "MANAGE_ORGANIZATION") {
					t.Fatalf("%s round %d: the winner lost MANAGE_ORGANIZATION: %v", kind, round, got)
				}
				// Restore the loser for the next round.
				wc.must(reactivateMut, map[string]any{"id": l.id})
				wc.must(setPermissionsMut, map[string]any{"id": l.id, "p": []string{"MANAGE_ORGANIZATION"}})
			}
		}
		t.Logf("%d of %d losing parallel removals refused by the rule (CONFLICT), the rest because the winner had already ended their session or permission", conflicts, 2*rounds)
	})
}

// Resetting a user's MFA, deactivating them and removing any of their
// permissions end every session they have, on every client; other users'
// sessions and changes that take no trust away are untouched.
func TestSessionsEndWhenTrustEnds(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		admin := e.admin()
		hank, hankID := newUser(t, e, admin, "hank", map[string]any{"permissions": []string{"VIEW_AUDIT"}})
		actions := map[string]struct {
			mutation string
			vars     func(id string) map[string]any
			reason   string
		}{
			"resetUserMfa": {`mutation($id: ID!) { resetUserMfa(input: {userId: $id}) { user { id } } }`,
				func(id string) map[string]any { return map[string]any{"id": id} }, "mfa.reset"},
			"deactivateUser": {deactivateMut, func(id string) map[string]any { return map[string]any{"id": id} }, "user.deactivated"},
			"removePermission": {setPermissionsMut,
				func(id string) map[string]any { return map[string]any{"id": id, "p": []string{"MANAGE_USERS"}} }, "permissions.removed"},
		}
		for name, a := range actions {
			t.Run(name, func(t *testing.T) {
				user := "gina-" + strings.ToLower(name)
				pass := user + "-password-1"
				_, id := newUser(t, e, admin, user, map[string]any{"permissions": []string{"MANAGE_USERS", "VIEW_AUDIT"}})
				api := e.loginAs(user, pass)
				browser := e.client() // a cookie session on another client
				if p, r := browser.login("demo", user, pass); p == nil || p["status"] != "AUTHENTICATED" {
					t.Fatalf("browser login: %+v", r.Errors)
				}
				for _, c := range []*client{api, browser} {
					if dig(c.must(`{ viewer { id } }`, nil), "viewer", "id") != id {
						t.Fatal("not logged in before the action")
					}
				}
				admin.must(a.mutation, a.vars(id))
				for i, c := range []*client{api, browser} {
					if v := c.must(`{ viewer { id } }`, nil)["viewer"]; v != nil {
						t.Fatalf("client %d: viewer after %s: %v", i, name, v)
					}
					if r := c.post(`{ myTrustedBrowsers { id } }`, nil); r.code() != "UNAUTHENTICATED" {
						t.Fatalf("client %d: session still works after %s: %+v", i, name, r.Errors)
					}
				}
				if dig(hank.must(`{ viewer { id } }`, nil), "viewer", "id") != hankID {
					t.Fatalf("another user's session ended by %s", name)
				}
				d := admin.must(`query($id: ID) { auditEvents(filter: {userId: $id, action: "sessions.ended"}) { totalCount edges { node { details actor { username } } } } }`, map[string]any{"id": id})
				if dig(d, "auditEvents", "totalCount") != float64(1) {
					t.Fatalf("sessions.ended events: %v", d)
				}
				ev := dig(d, "auditEvents", "edges").([]any)[0]
				if dig(ev, "node", "details", "reason") != a.reason || dig(ev, "node", "actor", "username") != "admin" {
					t.Fatalf("sessions.ended event: %v", ev)
				}
			})
		}

		t.Run("keeps sessions when no trust is taken", func(t *testing.T) {
			c, id := newUser(t, e, admin, "kim", map[string]any{"permissions": []string{"VIEW_AUDIT"}})
			admin.must(`mutation($id: ID!) { updateUser(input: {userId: $id, displayName: "Kim K"}) { user { id } } }`, map[string]any{"id": id})
			admin.must(setPermissionsMut, map[string]any{"id": id, "p": []string{"VIEW_AUDIT", "MANAGE_USERS"}})
			admin.must(setPermissionsMut, map[string]any{"id": id, "p": []string{"MANAGE_USERS", "VIEW_AUDIT"}}) // same set, reordered
			if dig(c.must(`{ viewer { id } }`, nil), "viewer", "id") != id {
				t.Fatal("a profile edit or a grant ended the session")
			}
		})

		t.Run("acting on oneself keeps the asking session", func(t *testing.T) {
			here, there := e.admin(), e.admin()
			adminID := lookupUserID(t, here, "admin")
			here.must(`mutation($id: ID!) { resetUserMfa(input: {userId: $id}) { user { id } } }`, map[string]any{"id": adminID})
			if dig(here.must(`{ viewer { id } }`, nil), "viewer", "id") != adminID {
				t.Fatal("the session that reset its own MFA was ended")
			}
			if r := there.post(`{ myTrustedBrowsers { id } }`, nil); r.code() != "UNAUTHENTICATED" {
				t.Fatalf("the admin's other session survived their MFA reset: %+v", r.Errors)
			}
			admin = here
		})
	})
}
