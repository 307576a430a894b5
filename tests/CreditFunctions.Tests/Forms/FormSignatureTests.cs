using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using CreditFunctions.Forms;
using CreditFunctions.Waterfall;

namespace CreditFunctions.Tests.Forms;

/// <summary>The form tools' signature schemes, over the bytes received, and the field map's paths.</summary>
public sealed class FormSignatureTests
{
    private const string Secret = "whsec_0123456789abcdef";
    private static readonly byte[] s_body = Encoding.UTF8.GetBytes("{\"event_id\":\"01H\",\"form_response\":{\"token\":\"abc\"}}");
    private static readonly DateTimeOffset s_now = new(2026, 12, 2, 1, 0, 0, TimeSpan.Zero);

    [Fact]
    public void A_typeform_signature_is_sha256_and_the_base64_hmac_of_the_body()
    {
        var expected = "sha256=" + Convert.ToBase64String(HMACSHA256.HashData(Encoding.UTF8.GetBytes(Secret), s_body));

        Assert.Equal(expected, FormSignatures.SignTypeform(Secret, s_body));
        Assert.Equal(SignatureCheck.Valid, FormSignatures.VerifyTypeform(Secret, expected, s_body));
        Assert.Equal(SignatureCheck.Invalid, FormSignatures.VerifyTypeform("whsec_other", expected, s_body));
        Assert.Equal(SignatureCheck.Invalid, FormSignatures.VerifyTypeform(Secret, expected, [.. s_body, (byte)' ']));
        Assert.Equal(SignatureCheck.Missing, FormSignatures.VerifyTypeform(Secret, null, s_body));
    }

    [Fact]
    public void A_hubspot_v3_signature_covers_method_uri_body_and_timestamp_within_five_minutes()
    {
        const string uri = "https://api.example.com/api/forms/frm_1/submissions?x=1";
        var timestamp = s_now.ToUnixTimeMilliseconds().ToString(System.Globalization.CultureInfo.InvariantCulture);
        var expected = Convert.ToBase64String(HMACSHA256.HashData(Encoding.UTF8.GetBytes(Secret),
            (byte[])[.. Encoding.UTF8.GetBytes("POST" + uri), .. s_body, .. Encoding.UTF8.GetBytes(timestamp)]));

        Assert.Equal(expected, FormSignatures.SignHubSpot(Secret, "POST", uri, s_body, timestamp));
        Assert.Equal(SignatureCheck.Valid, FormSignatures.VerifyHubSpot(Secret, expected, timestamp, "POST", uri, s_body, s_now.AddMinutes(4)));
        Assert.Equal(SignatureCheck.Stale, FormSignatures.VerifyHubSpot(Secret, expected, timestamp, "POST", uri, s_body, s_now.AddMinutes(6)));
        Assert.Equal(SignatureCheck.Invalid, FormSignatures.VerifyHubSpot(Secret, expected, timestamp, "POST", uri + "&y=2", s_body, s_now));
        // A timestamp moved forward to look fresh breaks the MAC.
        Assert.Equal(SignatureCheck.Invalid, FormSignatures.VerifyHubSpot(Secret, expected, (s_now.ToUnixTimeMilliseconds() + 1).ToString(System.Globalization.CultureInfo.InvariantCulture),
            "POST", uri, s_body, s_now));
        Assert.Equal(SignatureCheck.Missing, FormSignatures.VerifyHubSpot(Secret, expected, null, "POST", uri, s_body, s_now));
    }

    [Fact]
    public void A_hubspot_uri_is_signed_with_its_documented_escapes_decoded()
    {
        var timestamp = "1700000000000";
        var decoded = FormSignatures.SignHubSpot(Secret, "POST", "https://x.test/a?email=ada@x.test", s_body, timestamp);

        Assert.Equal(decoded, FormSignatures.SignHubSpot(Secret, "post", "https://x.test/a?email=ada%40x.test", s_body, timestamp));
    }

    [Fact]
    public void A_generic_signature_is_our_own_scheme_and_an_old_one_is_stale_not_forged()
    {
        var body = Encoding.UTF8.GetString(s_body);
        var header = WebhookSender.Sign(Secret, s_now, body);

        Assert.Equal(SignatureCheck.Valid, FormSignatures.VerifyGeneric(Secret, header, body, s_now.AddMinutes(1)));
        Assert.Equal(SignatureCheck.Stale, FormSignatures.VerifyGeneric(Secret, header, body, s_now.AddMinutes(10)));
        Assert.Equal(SignatureCheck.Invalid, FormSignatures.VerifyGeneric("whsec_other", header, body, s_now));
        Assert.Equal(SignatureCheck.Missing, FormSignatures.VerifyGeneric(Secret, "", body, s_now));
    }

    [Fact]
    public void Field_map_paths_read_names_indexes_and_the_typeform_answer_whose_ref_matches()
    {
        using var doc = JsonDocument.Parse("""
            {"form_response":{"token":"t1","answers":[
              {"type":"text","text":"Ada","field":{"ref":"first"}},
              {"type":"email","email":"ada@example.com","field":{"ref":"work_email"}}]},
             "list":[{"n":7}]}
            """);

        Assert.Equal("ada@example.com", FieldMap.Read(doc.RootElement, "form_response.answers[field.ref=work_email].email"));
        Assert.Equal("Ada", FieldMap.Read(doc.RootElement, "form_response.answers[0].text"));
        Assert.Equal("7", FieldMap.Read(doc.RootElement, "list[0].n"));
        Assert.Null(FieldMap.Read(doc.RootElement, "form_response.answers[field.ref=nope].email"));
        Assert.Null(FieldMap.Read(doc.RootElement, "form_response"));
        Assert.NotNull(FieldMap.Refusal("a..b"));
        Assert.NotNull(FieldMap.Refusal("a[x"));
        Assert.Null(FieldMap.Refusal("a[k=v].b"));
    }
}
