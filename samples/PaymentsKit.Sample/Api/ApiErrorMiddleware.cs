using System.Globalization;
using System.Text.Json;

namespace PaymentsKit.Sample.Api;

/// <summary>
/// Turns failures into <c>{ "error": { "code", "message" } }</c> responses: a <see cref="PaymentsKitException"/>
/// by its stable code (<see cref="ApiErrors.StatusFor"/>), a malformed request (unreadable JSON, a missing body)
/// as <c>invalid_argument</c>. Only a fault of the host itself is a 500.
/// </summary>
internal sealed partial class ApiErrorMiddleware(RequestDelegate next, ILogger<ApiErrorMiddleware> logger)
{
    public async Task InvokeAsync(HttpContext context)
    {
        try
        {
            await next(context).ConfigureAwait(false);
        }
        catch (PaymentsKitException ex) when (!context.Response.HasStarted)
        {
            await ApiErrors.WriteAsync(context, ex).ConfigureAwait(false);
        }
        catch (BadHttpRequestException ex) when (!context.Response.HasStarted)
        {
            var message = ex.InnerException is JsonException json ? $"The request body is not valid JSON for this call: {json.Message}" : ex.Message;
            await ApiErrors.WriteAsync(context, ex.StatusCode, PaymentsKitErrorCodes.InvalidArgument, message).ConfigureAwait(false);
        }
        catch (Exception ex) when (!context.Response.HasStarted && !context.RequestAborted.IsCancellationRequested)
        {
            LogUnhandled(logger, ex, context.Request.Method, context.Request.Path);
            await ApiErrors.WriteAsync(context, StatusCodes.Status500InternalServerError, "internal_error", "The server failed to process the request.").ConfigureAwait(false);
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Unhandled failure in {Method} {Path}")]
    private static partial void LogUnhandled(ILogger logger, Exception exception, string method, string path);
}

/// <summary>The sample API's error codes beyond PaymentsKit's own, and the HTTP status of each code.</summary>
internal static class ApiErrors
{
    /// <summary>The caller is authenticated but its key is not for this resource (401 is for no or a bad key).</summary>
    public const string Forbidden = "forbidden";

    /// <summary>The path exists but not with this HTTP method.</summary>
    public const string MethodNotAllowed = "method_not_allowed";

    /// <summary>The HTTP status a PaymentsKit error code maps to; unknown codes are the caller's problem (422), never a 500.</summary>
    public static int StatusFor(string code) => code switch
    {
        PaymentsKitErrorCodes.InvalidApiKey => StatusCodes.Status401Unauthorized,
        Forbidden or PaymentsKitErrorCodes.PartnerInactive or PaymentsKitErrorCodes.PartnerDeleted => StatusCodes.Status403Forbidden,
        PaymentsKitErrorCodes.NotFound or PaymentsKitErrorCodes.TransactionNotFound => StatusCodes.Status404NotFound,
        PaymentsKitErrorCodes.IdempotencyConflict or PaymentsKitErrorCodes.DuplicateKey or PaymentsKitErrorCodes.InvalidTransition
            or PaymentsKitErrorCodes.ConcurrencyConflict or PaymentsKitErrorCodes.AlreadyResolved or PaymentsKitErrorCodes.AlreadyReversed
            or PaymentsKitErrorCodes.TransactionInFlight or PaymentsKitErrorCodes.TransactionNotFinal => StatusCodes.Status409Conflict,
        PaymentsKitErrorCodes.RateLimited => StatusCodes.Status429TooManyRequests,
        PaymentsKitErrorCodes.ChainUnavailable or PaymentsKitErrorCodes.StorageFailure => StatusCodes.Status503ServiceUnavailable,
        PaymentsKitErrorCodes.InvalidArgument or PaymentsKitErrorCodes.MalformedId or PaymentsKitErrorCodes.AmountPrecision
            or PaymentsKitErrorCodes.AmountOutOfRange or PaymentsKitErrorCodes.ArithmeticOverflow or PaymentsKitErrorCodes.AssetMismatch
            or PaymentsKitErrorCodes.UnknownAsset or PaymentsKitErrorCodes.UnknownCurrency or PaymentsKitErrorCodes.UnknownPaymentMethod
            or PaymentsKitErrorCodes.UnknownProvider or PaymentsKitErrorCodes.InvalidAddress or PaymentsKitErrorCodes.UnknownChain
            or PaymentsKitErrorCodes.UnsupportedAsset or PaymentsKitErrorCodes.WebhookEndpointRejected
            or PaymentsKitErrorCodes.WebhookVerificationFailed or PaymentsKitErrorCodes.InvalidSignature => StatusCodes.Status400BadRequest,
        _ => StatusCodes.Status422UnprocessableEntity,
    };

    public static Task WriteAsync(HttpContext context, int status, string code, string message, long? retryAfterSeconds = null)
    {
        context.Response.Clear();
        context.Response.StatusCode = status;
        if (retryAfterSeconds is { } seconds)
        {
            context.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
        }

        return context.Response.WriteAsJsonAsync(new ErrorBody(new ErrorDetail(code, message)), context.RequestAborted);
    }

    /// <summary>Writes a <see cref="PaymentsKitException"/> by its code, with <c>Retry-After</c> when it says how long to wait.</summary>
    public static Task WriteAsync(HttpContext context, PaymentsKitException exception) =>
        WriteAsync(
            context,
            StatusFor(exception.Code),
            exception.Code,
            exception.Message,

            // HTTP clients back off on Retry-After (whole seconds, rounded up), not on the message.
            exception.Context.TryGetValue("retry_after_ms", out var retryAfter) && retryAfter is long milliseconds ? (milliseconds + 999) / 1000 : null);

    /// <summary>Gives the framework's own bodiless errors (no such route, wrong method, a body not sent as JSON) the API's error body.</summary>
    public static Task WriteForStatusAsync(HttpContext context)
    {
        var status = context.Response.StatusCode;
        var (code, message) = status switch
        {
            StatusCodes.Status404NotFound => (PaymentsKitErrorCodes.NotFound, $"There is no resource at {context.Request.Path}."),
            StatusCodes.Status405MethodNotAllowed => (MethodNotAllowed, $"{context.Request.Method} is not supported on {context.Request.Path}."),
            StatusCodes.Status415UnsupportedMediaType => (PaymentsKitErrorCodes.InvalidArgument,
                $"Send the body as 'Content-Type: application/json' (value: '{context.Request.ContentType}')."),
            _ => (PaymentsKitErrorCodes.InvalidArgument, $"The request failed with HTTP status {status}."),
        };
        return WriteAsync(context, status, code, message);
    }

    public static PaymentsKitException ForbiddenFor(string what) =>
        new(Forbidden, $"This API key may not {what}.");

    private sealed record ErrorBody(ErrorDetail Error);

    private sealed record ErrorDetail(string Code, string Message);
}
