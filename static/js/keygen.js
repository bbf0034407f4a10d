/*
 * In-browser key generation for HelseID clients using private_key_jwt.
 * The key pair is created with WebCrypto on the vendor's own machine: only the
 * PUBLIC JWK is placed in the upload form, while the PRIVATE JWK is offered as
 * a local download. The private key is never sent to, or stored by, the server.
 */
(function () {
  "use strict";

  var ALGORITHMS = {
    ES256: { name: "ECDSA", namedCurve: "P-256" },
    ES384: { name: "ECDSA", namedCurve: "P-384" },
    ES512: { name: "ECDSA", namedCurve: "P-521" },
    PS256: {
      name: "RSA-PSS",
      modulusLength: 4096,
      publicExponent: new Uint8Array([0x01, 0x00, 0x01]), // 65537
      hash: "SHA-256",
    },
    PS512: {
      name: "RSA-PSS",
      modulusLength: 4096,
      publicExponent: new Uint8Array([0x01, 0x00, 0x01]), // 65537
      hash: "SHA-512",
    },
  };

  // Members that only ever appear in private (or symmetric) JWKs.
  var PRIVATE_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

  function base64url(buffer) {
    var bytes = new Uint8Array(buffer);
    var binary = "";
    for (var i = 0; i < bytes.length; i++) {
      binary += String.fromCharCode(bytes[i]);
    }
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  // RFC 7638 JWK thumbprint: take only the REQUIRED public members, in
  // lexicographic order, serialise as JSON without whitespace, hash with
  // SHA-256 and encode as base64url without padding.
  async function thumbprint(publicJwk) {
    var members;
    if (publicJwk.kty === "EC") {
      members = ["crv", "kty", "x", "y"];
    } else if (publicJwk.kty === "RSA") {
      members = ["e", "kty", "n"];
    } else {
      throw new Error("Unsupported key type");
    }
    var canonical = {};
    members.forEach(function (name) {
      if (typeof publicJwk[name] !== "string") {
        throw new Error("Missing JWK member");
      }
      canonical[name] = publicJwk[name];
    });
    // Insertion order above is already lexicographic, so JSON.stringify
    // yields the canonical form (its values need no extra escaping).
    var data = new TextEncoder().encode(JSON.stringify(canonical));
    return base64url(await crypto.subtle.digest("SHA-256", data));
  }

  function decorate(jwk, kid, alg) {
    delete jwk.key_ops;
    delete jwk.ext;
    jwk.kid = kid;
    jwk.alg = alg;
    jwk.use = "sig";
    return jwk;
  }

  function assertPublicOnly(jwk) {
    PRIVATE_MEMBERS.forEach(function (name) {
      if (Object.prototype.hasOwnProperty.call(jwk, name)) {
        throw new Error("Public JWK contains a private member");
      }
    });
  }

  function init() {
    var root = document.getElementById("keygen");
    if (!root) {
      return;
    }
    var select = document.getElementById("keygen-alg");
    var button = document.getElementById("keygen-generate");
    var status = document.getElementById("keygen-status");
    var link = document.getElementById("keygen-download");
    var target = document.getElementById("id_keys");
    if (!select || !button || !status || !link || !target) {
      return;
    }

    var labels = root.dataset;
    var clientName = labels.clientName || "helseid-client";
    var objectUrl = null;

    function setStatus(text) {
      status.textContent = text || "";
    }

    if (!(window.crypto && window.crypto.subtle)) {
      // WebCrypto is only available in secure contexts (HTTPS or localhost).
      button.disabled = true;
      setStatus(labels.labelUnsupported);
      return;
    }

    async function generate() {
      var alg = select.value;
      var params = ALGORITHMS[alg];
      if (!params) {
        throw new Error("Unsupported algorithm");
      }

      var pair = await crypto.subtle.generateKey(params, true, ["sign", "verify"]);
      var publicJwk = await crypto.subtle.exportKey("jwk", pair.publicKey);
      var privateJwk = await crypto.subtle.exportKey("jwk", pair.privateKey);

      assertPublicOnly(publicJwk);
      var kid = await thumbprint(publicJwk);
      decorate(publicJwk, kid, alg);
      decorate(privateJwk, kid, alg);
      assertPublicOnly(publicJwk);

      // Prepare the download before touching the form so that the public key
      // in the form and the private key on offer always belong together.
      var blob = new Blob([JSON.stringify(privateJwk, null, 2)], {
        type: "application/json",
      });
      var newUrl = URL.createObjectURL(blob);
      if (objectUrl) {
        URL.revokeObjectURL(objectUrl);
      }
      objectUrl = newUrl;

      target.value = JSON.stringify(publicJwk, null, 2);
      target.dispatchEvent(new Event("input", { bubbles: true }));

      link.href = objectUrl;
      link.setAttribute("download", clientName + "-" + kid.slice(0, 8) + ".private.jwk.json");
      link.textContent = labels.labelDownload || "";
      link.hidden = false;
      link.focus();
    }

    button.addEventListener("click", async function () {
      button.disabled = true;
      setStatus(labels.labelGenerating);
      try {
        await generate();
        setStatus(labels.labelReady);
      } catch (err) {
        // Deliberately not logged: nothing key-related goes to the console.
        setStatus(labels.labelError);
      } finally {
        button.disabled = false;
      }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
