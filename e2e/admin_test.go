package e2e

import (
	"fmt"
	"strings"
	"testing"
)

// adminOperations lists every admin field with valid-looking arguments.
var adminOperations = map[string]string{
	"user":           `{ user(id: "0190d6f4-3b0a-7cc1-9a57-000000000000") { id } }`,
	"users":          `{ users { totalCount } }`,
	"companies":      `{ companies { edges { node { id } } } }`,
	"auditEvents":    `{ auditEvents { totalCount } }`,
	"createUser":     `mutation { createUser(input: {username: "mallory", email: "m@example.com"}) { user { id } } }`,
	"updateUser":     `mutation { updateUser(input: {userId: "0190d6f4-3b0a-7cc1-9a57-000000000000", displayName: "x"}) { user { id } } }`,
	"deactivateUser": `mutation { deactivateUser(input: {userId: "0190d6f4-3b0a-7cc1-9a57-000000000000"}) { user { id } } }`,
	"reactivateUser": `mutation { reactivateUser(input: {userId: "0190d6f4-3b0a-7cc1-9a57-000000000000"}) { user { id } } }`,
	"unlockUser":     `mutation { unlockUser(input: {userId: "0190d6f4-3b0a-7cc1-9a57-000000000000"}) { user { id } } }`,
	"createCompany":  `mutation { createCompany(input: {name: "Initech"}) { company { id } } }`,
}

func TestAdminOperationsRefusedToNobodyAndToNonAdmins(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		admin := e.admin()
		e.createUser(admin, map[string]any{"username": "eve", "email": "eve@example.com", "password": "eve-password-12"})
		nobody := e.client()
		eve := e.loginAs("eve", "eve-password-12")
		for name, q := range adminOperations {
			t.Run(name, func(t *testing.T) {
				if r := nobody.post(q, nil); r.code() != "UNAUTHENTICATED" {
					t.Errorf("anonymous: %+v", r.Errors)
				}
				if r := eve.post(q, nil); r.code() != "FORBIDDEN" {
					t.Errorf("non-admin: %+v", r.Errors)
				}
			})
		}
		// Nothing the refused calls tried was written.
		if n := dig(admin.must(`{ users { totalCount } }`, nil), "users", "totalCount"); n != float64(2) {
			t.Fatalf("users = %v, want 2", n)
		}
		if n := len(nodes(admin.must(`{ companies { edges { node { id } } } }`, nil), "companies")); n != 0 {
			t.Fatalf("companies = %d", n)
		}
	})
}

func TestUserManagerCannotGrantPermissions(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		admin := e.admin()
		e.createUser(admin, map[string]any{"username": "helpdesk", "email": "hd@example.com", "password": "helpdesk-pass-1", "permissions": []string{"MANAGE_USERS"}})
		hd := e.loginAs("helpdesk", "helpdesk-pass-1")
		r := hd.post(`mutation { createUser(input: {username: "boss", email: "b@example.com", permissions: [MANAGE_ORGANIZATION]}) { user { id } } }`, nil)
		if r.code() != "FORBIDDEN" {
			t.Fatalf("grant by user manager: %+v", r.Errors)
		}
		adminID := lookupUserID(t, admin, "admin")
		if r := hd.post(`mutation($id: ID!) { deactivateUser(input: {userId: $id}) { user { id } } }`, map[string]any{"id": adminID}); r.code() != "FORBIDDEN" {
			t.Fatalf("user manager deactivating an org manager: %+v", r.Errors)
		}
		// A plain user is fine.
		hd.must(`mutation { createUser(input: {username: "temp", email: "t@example.com"}) { user { id } } }`, nil)
	})
}

func TestDeactivateEndsSessionsAndBlocksLogin(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		admin := e.admin()
		id := e.createUser(admin, map[string]any{"username": "frank", "email": "frank@example.com", "password": "frank-password-1"})
		frank := e.loginAs("frank", "frank-password-1")
		admin.must(`mutation($id: ID!) { deactivateUser(input: {userId: $id}) { user { status } } }`, map[string]any{"id": id})
		if dig(frank.must(`{ viewer { id } }`, nil), "viewer") != nil {
			t.Fatal("deactivated user's session still valid")
		}
		if _, r := e.client().login("demo", "frank", "frank-password-1"); r.code() != "UNAUTHENTICATED" {
			t.Fatalf("deactivated login: %+v", r)
		}
		admin.must(`mutation($id: ID!) { reactivateUser(input: {userId: $id}) { user { status } } }`, map[string]any{"id": id})
		e.loginAs("frank", "frank-password-1")
		if r := admin.post(`mutation($id: ID!) { deactivateUser(input: {userId: $id}) { user { id } } }`, map[string]any{"id": lookupUserID(t, admin, "admin")}); r.code() != "FORBIDDEN" {
			t.Fatalf("self-deactivation: %+v", r.Errors)
		}
	})
}

func TestUsersSearchFiltersAndPaging(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		admin := e.admin()
		company := dig(admin.must(`mutation { createCompany(input: {name: "Northwind Traders"}) { company { id } } }`, nil), "createCompany", "company", "id")
		for i := range 9 {
			in := map[string]any{"username": fmt.Sprintf("u%02d", i), "email": fmt.Sprintf("u%02d@example.com", i), "displayName": fmt.Sprintf("Person %d", i)}
			if i < 4 {
				in["companyId"], in["userType"] = company, "case_manager"
			}
			e.createUser(admin, in)
		}
		q := `query($first: Int, $after: String, $f: UserFilter, $o: UserOrder) {
		  users(first: $first, after: $after, filter: $f, orderBy: $o) {
		    totalCount pageInfo { hasNextPage hasPreviousPage endCursor }
		    edges { cursor node { username company { name } } } } }`
		var seen []string
		var after any
		for page := 0; ; page++ {
			d := admin.must(q, map[string]any{"first": 4, "after": after, "o": map[string]any{"field": "USERNAME"}})
			c := d["users"].(map[string]any)
			if c["totalCount"] != float64(10) {
				t.Fatalf("totalCount = %v", c["totalCount"])
			}
			for _, edge := range c["edges"].([]any) {
				seen = append(seen, dig(edge, "node", "username").(string))
			}
			if dig(c, "pageInfo", "hasNextPage") != true {
				break
			}
			after = dig(c, "pageInfo", "endCursor")
		}
		if got := strings.Join(seen, ","); got != "admin,u00,u01,u02,u03,u04,u05,u06,u07,u08" {
			t.Fatalf("paged order = %s", got)
		}
		for name, tc := range map[string]struct {
			filter map[string]any
			want   int
		}{
			"company name":   {map[string]any{"search": "northwind"}, 4},
			"display name":   {map[string]any{"search": "person 7"}, 1},
			"email":          {map[string]any{"search": "u05@"}, 1},
			"user type":      {map[string]any{"userType": "case_manager"}, 4},
			"company id":     {map[string]any{"companyId": company}, 4},
			"status active":  {map[string]any{"status": "ACTIVE"}, 10},
			"no match":       {map[string]any{"search": "zzz"}, 0},
			"type and query": {map[string]any{"userType": "case_manager", "search": "person 1"}, 1},
		} {
			d := admin.must(q, map[string]any{"f": tc.filter})
			if n := dig(d, "users", "totalCount"); n != float64(tc.want) {
				t.Errorf("%s: %v users, want %d", name, n, tc.want)
			}
		}
		d := admin.must(q, map[string]any{"first": 1, "o": map[string]any{"field": "USERNAME", "direction": "DESC"}})
		if u := dig(d["users"].(map[string]any)["edges"].([]any)[0], "node", "username"); u != "u08" {
			t.Fatalf("desc first = %v", u)
		}
	})
}

func TestBadInputIsRefusedAndChangesNothing(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		admin := e.admin()
		create := `mutation($in: CreateUserInput!) { createUser(input: $in) { user { id } } }`
		ok := map[string]any{"username": "grace", "email": "grace@example.com", "password": "grace-password-1"}
		with := func(k string, v any) map[string]any {
			m := map[string]any{}
			for kk, vv := range ok {
				m[kk] = vv
			}
			m[k] = v
			return m
		}
		for name, in := range map[string]map[string]any{
			"empty username":        with("username", ""),
			"username too long":     with("username", strings.Repeat("g", 65)),
			"username with spaces":  with("username", "grace hopper"),
			"bad email":             with("email", "not-an-email"),
			"email with name":       with("email", "Grace <grace@example.com>"),
			"short password":        with("password", "short"),
			"password too long":     with("password", strings.Repeat("p", 257)),
			"password = username":   {"username": "grace.hopper.1906", "email": "gh@example.com", "password": "GRACE.HOPPER.1906"}, // long enough to reach the rule
			"display name too long": with("displayName", strings.Repeat("d", 129)),
			"control characters":    with("displayName", "bad\x00name"),
			"unknown company":       with("companyId", "0190d6f4-3b0a-7cc1-9a57-000000000000"),
			"malformed company id":  with("companyId", "'; DROP TABLE users; --"),
			"username wrong type":   with("username", map[string]any{"first": "grace"}),
			"unknown permission":    with("permissions", []string{"ROOT"}),
		} {
			r := admin.post(create, map[string]any{"in": in})
			code := r.code()
			if code != "BAD_USER_INPUT" && !(name == "unknown company" && code == "NOT_FOUND") {
				t.Errorf("%s: code %q (%+v)", name, code, r.Errors)
			}
		}
		if r := admin.post(`{ users(first: 101) { totalCount } }`, nil); r.code() != "BAD_USER_INPUT" {
			t.Errorf("first=101: %+v", r.Errors)
		}
		if r := admin.post(`{ users(first: "ten") { totalCount } }`, nil); r.code() != "BAD_USER_INPUT" {
			t.Errorf("first wrong type: %+v", r.Errors)
		}
		if r := admin.post(`{ users(after: "garbage") { totalCount } }`, nil); r.code() != "BAD_USER_INPUT" {
			t.Errorf("bad cursor: %+v", r.Errors)
		}
		if r := admin.post(`mutation { createCompany(input: {name: "   "}) { company { id } } }`, nil); r.code() != "BAD_USER_INPUT" {
			t.Errorf("blank company: %+v", r.Errors)
		}
		if n := dig(admin.must(`{ users { totalCount } }`, nil), "users", "totalCount"); n != float64(1) {
			t.Fatalf("refused inputs created users: %v", n)
		}
		// Duplicates are a conflict, not a crash.
		admin.must(create, map[string]any{"in": ok})
		if r := admin.post(create, map[string]any{"in": with("email", "other@example.com")}); r.code() != "CONFLICT" {
			t.Errorf("duplicate username: %+v", r.Errors)
		}
		if _, r := e.client().login("demo", "", ""); r.code() != "BAD_USER_INPUT" {
			t.Errorf("empty login: %+v", r.Errors)
		}
	})
}

func TestQueryDepthAndComplexityAreLimited(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		admin := e.admin()
		deep := `{ auditEvents { edges { node { actor { company { id } organization { id } } } } } }`
		admin.must(deep, nil)
		viaFragment := `{ viewer { organization { id } } ...F } fragment F on Query { a: auditEvents { edges { node { actor { organization { id } } subject { company { name } } } } } b: users { edges { node { company { id } } } } }`
		admin.must(viaFragment, nil)
		// 16 levels of introspection types exceed the depth limit of 15.
		tooDeep := "{ __schema { types { fields { type { " + strings.Repeat("ofType { ", 12) + "name" + strings.Repeat(" }", 12) + " } } } } }"
		if r := admin.post(tooDeep, nil); r.code() != "BAD_USER_INPUT" || !strings.Contains(r.Errors[0].Message, "too deep") {
			t.Fatalf("a too deep query: %+v", r.Errors)
		}
		var sb strings.Builder
		sb.WriteString("{")
		for i := range 200 {
			fmt.Fprintf(&sb, " u%d: users(first: 100) { edges { node { id } } }", i)
		}
		sb.WriteString("}")
		if r := admin.post(sb.String(), nil); r.code() != "BAD_USER_INPUT" || r.Errors[0].Extensions["reason"] != "COMPLEXITY_LIMIT_EXCEEDED" {
			t.Fatalf("a very complex query: %+v", r.Errors)
		}
		// Introspection: admins yes, anonymous no (not in dev mode).
		if r := e.client().post(`{ __schema { queryType { name } } }`, nil); r.code() != "FORBIDDEN" || r.Data["__schema"] != nil {
			t.Fatalf("anonymous introspection outside dev mode: %+v", r)
		}
		admin.must(`{ __schema { queryType { name } } }`, nil)
	})
}

func TestUpdateUser(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		admin := e.admin()
		company := dig(admin.must(`mutation { createCompany(input: {name: "Initech"}) { company { id } } }`, nil), "createCompany", "company", "id")
		id := e.createUser(admin, map[string]any{"username": "tom", "email": "tom@example.com"})
		e.createUser(admin, map[string]any{"username": "tina", "email": "tina@example.com"})
		update := `mutation($in: UpdateUserInput!) { updateUser(input: $in) { user { email displayName userType company { name } permissions } } }`
		d := admin.must(update, map[string]any{"in": map[string]any{"userId": id, "email": "Tom.New@Example.com", "displayName": "Tom N.",
			"userType": "case_manager", "companyId": company, "permissions": []string{"VIEW_AUDIT"}}})
		if got := jsonOf(dig(d, "updateUser", "user")); got != `{"company":{"name":"Initech"},"displayName":"Tom N.","email":"tom.new@example.com","permissions":["VIEW_AUDIT"],"userType":"case_manager"}` {
			t.Fatalf("updated user: %s", got)
		}
		// Only the given fields change; "" leaves the company.
		d = admin.must(update, map[string]any{"in": map[string]any{"userId": id, "companyId": ""}})
		if got := jsonOf(dig(d, "updateUser", "user")); got != `{"company":null,"displayName":"Tom N.","email":"tom.new@example.com","permissions":["VIEW_AUDIT"],"userType":"case_manager"}` {
			t.Fatalf("after leaving the company: %s", got)
		}
		if r := admin.post(update, map[string]any{"in": map[string]any{"userId": id, "email": "tina@example.com"}}); r.code() != "CONFLICT" {
			t.Fatalf("duplicate email: %+v", r.Errors)
		}
		if r := admin.post(update, map[string]any{"in": map[string]any{"userId": "0190d6f4-3b0a-7cc1-9a57-000000000000", "displayName": "x"}}); r.code() != "NOT_FOUND" {
			t.Fatalf("unknown user: %+v", r.Errors)
		}
		if r := admin.post(update, map[string]any{"in": map[string]any{"userId": id, "email": "nope"}}); r.code() != "BAD_USER_INPUT" {
			t.Fatalf("bad email: %+v", r.Errors)
		}
		if got := dig(admin.must(`query($id: ID!) { user(id: $id) { email } }`, map[string]any{"id": id}), "user", "email"); got != "tom.new@example.com" {
			t.Fatalf("a refused update changed the user: %v", got)
		}
	})
}
