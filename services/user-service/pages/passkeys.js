// Passkeys on the hosted pages (docs/pages.md): the pages' only script, served from their own
// origin (/assets/passkeys.js) under their Content-Security-Policy. It calls the browser's
// WebAuthn API and then fills in and submits forms the server rendered; every message the
// user reads comes from the server. Without this script, or without WebAuthn, the forms stay
// hidden and the pages work with passwords as before.
"use strict";

(function () {
  if (!window.PublicKeyCredential || !navigator.credentials) {
    return;
  }

  // base64url (no padding) <-> bytes, for the binary members of the WebAuthn JSON forms.
  function toBytes(text) {
    var base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    var binary = atob(base64 + "===".slice((base64.length + 3) % 4));
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i += 1) {
      bytes[i] = binary.charCodeAt(i);
    }
    return bytes.buffer;
  }

  function toText(buffer) {
    var bytes = new Uint8Array(buffer);
    var binary = "";
    for (var i = 0; i < bytes.length; i += 1) {
      binary += String.fromCharCode(bytes[i]);
    }
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function descriptors(list) {
    return (list || []).map(function (d) {
      return Object.assign({}, d, { id: toBytes(d.id) });
    });
  }

  // The server's `{"publicKey": {...}}` as the browser's creation or request options: the
  // browser's own parser where it has one (WebAuthn Level 3), the same conversion by hand where
  // it has not.
  function creationOptions(json) {
    if (typeof PublicKeyCredential.parseCreationOptionsFromJSON === "function") {
      return PublicKeyCredential.parseCreationOptionsFromJSON(json.publicKey);
    }
    var o = Object.assign({}, json.publicKey);
    o.challenge = toBytes(o.challenge);
    o.user = Object.assign({}, o.user, { id: toBytes(o.user.id) });
    o.excludeCredentials = descriptors(o.excludeCredentials);
    return o;
  }

  function requestOptions(json) {
    if (typeof PublicKeyCredential.parseRequestOptionsFromJSON === "function") {
      return PublicKeyCredential.parseRequestOptionsFromJSON(json.publicKey);
    }
    var o = Object.assign({}, json.publicKey);
    o.challenge = toBytes(o.challenge);
    o.allowCredentials = descriptors(o.allowCredentials);
    return o;
  }

  // The credential as JSON (what `PublicKeyCredential.toJSON()` gives in newer browsers).
  function credentialJSON(credential) {
    if (typeof credential.toJSON === "function") {
      return JSON.stringify(credential.toJSON());
    }
    var r = credential.response;
    var response = { clientDataJSON: toText(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = toText(r.attestationObject);
      response.transports = typeof r.getTransports === "function" ? r.getTransports() : [];
    } else {
      response.authenticatorData = toText(r.authenticatorData);
      response.signature = toText(r.signature);
      response.userHandle = r.userHandle ? toText(r.userHandle) : null;
    }
    return JSON.stringify({
      id: credential.id,
      rawId: toText(credential.rawId),
      type: credential.type,
      response: response,
      clientExtensionResults: credential.getClientExtensionResults(),
    });
  }

  function field(form, name) {
    return form.querySelector('input[name="' + name + '"]');
  }

  // Submits `form` with the ceremony's answer, or with what went wrong in the browser (the
  // server then says so in the page's language).
  function finish(form, ceremony, credential, problem) {
    field(form, "ceremony").value = ceremony || "";
    field(form, "credential").value = credential ? credentialJSON(credential) : "";
    field(form, "client_error").value = problem || "";
    form.submit();
  }

  // Starts a ceremony: the form's `data-options` URL answers `{ceremony, options}`.
  function start(form, extra) {
    var body = new URLSearchParams();
    body.set("csrf_token", field(form, "csrf_token").value);
    Object.keys(extra || {}).forEach(function (name) {
      body.set(name, extra[name]);
    });
    return fetch(form.dataset.options, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    }).then(function (response) {
      if (!response.ok) {
        throw new Error("options " + response.status);
      }
      return response.json();
    });
  }

  function failure(error) {
    return (error && error.name) || "Error";
  }

  // `/login`: a button, and autofill (conditional mediation) where the browser offers it.
  function login(form) {
    var pending = null;
    var email = document.getElementById("login-form-email");
    form.hidden = false;
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (pending) {
        pending.abort();
      }
      var typed = email && email.value.trim() ? { email: email.value.trim() } : {};
      start(form, typed)
        .then(function (started) {
          var options = requestOptions(started.options);
          return navigator.credentials.get({ publicKey: options }).then(function (credential) {
            finish(form, started.ceremony, credential, null);
          });
        })
        .catch(function (error) {
          finish(form, null, null, failure(error));
        });
    });
    if (typeof PublicKeyCredential.isConditionalMediationAvailable !== "function") {
      return;
    }
    PublicKeyCredential.isConditionalMediationAvailable().then(function (available) {
      if (!available) {
        return;
      }
      pending = new AbortController();
      var signal = pending.signal;
      start(form, {})
        .then(function (started) {
          return navigator.credentials
            .get({ publicKey: requestOptions(started.options), mediation: "conditional", signal: signal })
            .then(function (credential) {
              finish(form, started.ceremony, credential, null);
            });
        })
        .catch(function () {
          // Aborted for the button, or autofill not used: nothing to say.
        });
    });
  }

  // `/login/mfa`: the passkey as the second step.
  function secondStep(form) {
    form.hidden = false;
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      start(form, { challenge: field(form, "challenge").value })
        .then(function (started) {
          var options = requestOptions(started.options);
          return navigator.credentials.get({ publicKey: options }).then(function (credential) {
            finish(form, started.ceremony, credential, null);
          });
        })
        .catch(function (error) {
          finish(form, null, null, failure(error));
        });
    });
  }

  // The enrolment page: the options came with the page (`data-creation-options`).
  function enrol(form) {
    form.hidden = false;
    var ceremony = field(form, "ceremony").value;
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var options = creationOptions(JSON.parse(form.dataset.creationOptions));
      navigator.credentials
        .create({ publicKey: options })
        .then(function (credential) {
          finish(form, ceremony, credential, null);
        })
        .catch(function (error) {
          finish(form, ceremony, null, failure(error));
        });
    });
  }

  var forms = {
    "passkey-login-form": login,
    "passkey-mfa-form": secondStep,
    "passkey-create-form": enrol,
  };
  Object.keys(forms).forEach(function (id) {
    var form = document.getElementById(id);
    if (form) {
      forms[id](form);
    }
  });
  document.querySelectorAll("[data-needs-passkey-support]").forEach(function (element) {
    element.hidden = true;
  });
})();
