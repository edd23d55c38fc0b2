// DynamoDB Local bound to 127.0.0.1 only, reading each request into a buffer
// of the request's own size.
//
// DynamoDB Local has no bind-address option: its Jetty server listens on
// every interface. This launcher builds the server exactly as DynamoDB
// Local's own main (ServerRunner) does, from the same command line, sets
// the host of each of its connectors to the loopback, then starts it.
//
// Its request handler reads every request body through a freshly allocated
// 16 MiB array (LocalDynamoDBServerHandler.fromStream), whatever the body's
// size: zeroing it costs about 2 ms of CPU a request, most of the emulator's
// work for a GetItem, and with several clients it is what saturates a core.
// SizedBodyHandler answers exactly as that handler does (the same request
// dispatch, error bodies and request-id header, the same 16 MiB limit) but
// reads the body into a buffer that grows with it. A browser's request (one
// with an Origin header: CORS and its preflight) goes to the stock handler
// unchanged. Started with -Ddevstack.stockHandler=true, it serves with the
// stock handler (the tests compare the two).
//
// Run as a single source file (Java 11+):
//   java -cp DynamoDBLocal.jar:DynamoDBLocal_lib/* LoopbackDynamoDBLocal.java -inMemory -port 8000
import com.amazonaws.services.dynamodbv2.dataMembers.RequestData;
import com.amazonaws.services.dynamodbv2.dataMembers.ResponseData;
import com.amazonaws.services.dynamodbv2.exceptions.AWSExceptionFactory;
import com.amazonaws.services.dynamodbv2.exceptions.AmazonServiceExceptionType;
import com.amazonaws.services.dynamodbv2.exceptions.DynamoDBLocalServiceException;
import com.amazonaws.services.dynamodbv2.local.exceptions.ExceptionBean;
import com.amazonaws.services.dynamodbv2.local.main.ServerRunner;
import com.amazonaws.services.dynamodbv2.local.server.AbstractLocalDynamoDBServerHandler;
import com.amazonaws.services.dynamodbv2.local.server.DynamoDBProxyServer;
import com.amazonaws.services.dynamodbv2.local.server.DynamoDBRequestHandler;
import com.amazonaws.services.dynamodbv2.local.server.LocalDynamoDBServerHandler;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.util.Collection;
import java.util.Map;
import java.util.UUID;

import javax.servlet.http.HttpServletRequest;
import javax.servlet.http.HttpServletResponse;

import org.eclipse.jetty.server.Request;

public class LoopbackDynamoDBLocal {
    private static final String LOOPBACK = "127.0.0.1";

    public static void main(String[] args) throws Exception {
        DynamoDBProxyServer proxy = ServerRunner.createServerFromCommandLineArgs(args);
        boolean sized = !Boolean.getBoolean("devstack.stockHandler");
        if (sized) {
            LocalDynamoDBServerHandler stock = (LocalDynamoDBServerHandler) field(proxy, DynamoDBProxyServer.class,
                    "serverHandler");
            proxy = new DynamoDBProxyServer(port(args), SizedBodyHandler.like(stock));
        }
        Object jetty = field(proxy, DynamoDBProxyServer.class, "server");
        Object[] connectors = (Object[]) jetty.getClass().getMethod("getConnectors").invoke(jetty);
        if (connectors == null || connectors.length == 0) {
            throw new IllegalStateException("DynamoDB Local has no connector to bind to " + LOOPBACK);
        }
        for (Object connector : connectors) {
            Method setHost = connector.getClass().getMethod("setHost", String.class);
            setHost.invoke(connector, LOOPBACK);
        }
        proxy.start();
        System.out.println("DynamoDB Local listening on " + LOOPBACK
                + (sized ? ", request bodies read at their own size" : ", stock request handler"));
    }

    static Object field(Object owner, Class<?> type, String name) throws ReflectiveOperationException {
        Field field = type.getDeclaredField(name);
        field.setAccessible(true);
        return field.get(owner);
    }

    /** The -port of the command line, as ServerRunner read it (8000 when absent). */
    private static int port(String[] args) {
        for (int i = 0; i + 1 < args.length; i++) {
            if (args[i].equals("-port")) {
                return Integer.parseInt(args[i + 1]);
            }
        }
        return 8000;
    }
}

final class SizedBodyHandler extends LocalDynamoDBServerHandler {
    // LocalDynamoDBServerHandler.MAX_REQUEST_SIZE: larger bodies are refused.
    private static final int MAX_REQUEST_SIZE = 16 * 1024 * 1024;
    private static final int CHUNK = 64 * 1024;

    private SizedBodyHandler(DynamoDBRequestHandler primary, String cors) {
        super(primary, cors);
    }

    /** A handler with the stock one's request handlers (tables, streams) and CORS origins. */
    @SuppressWarnings("unchecked")
    static SizedBodyHandler like(LocalDynamoDBServerHandler stock) throws ReflectiveOperationException {
        Collection<String> cors = (Collection<String>) LoopbackDynamoDBLocal.field(stock,
                LocalDynamoDBServerHandler.class, "corsSet");
        SizedBodyHandler handler = new SizedBodyHandler(
                (DynamoDBRequestHandler) LoopbackDynamoDBLocal.field(stock, AbstractLocalDynamoDBServerHandler.class,
                        "primaryHandler"),
                cors.isEmpty() ? null : String.join(",", cors));
        Map<String, DynamoDBRequestHandler> secondary = (Map<String, DynamoDBRequestHandler>)
                LoopbackDynamoDBLocal.field(stock, AbstractLocalDynamoDBServerHandler.class, "secondaryHandlers");
        for (Map.Entry<String, DynamoDBRequestHandler> entry : secondary.entrySet()) {
            handler.addHandler(entry.getKey(), entry.getValue());
        }
        return handler;
    }

    @Override
    public void handle(String target, Request baseRequest, HttpServletRequest request, HttpServletResponse response)
            throws IOException {
        if (request.getHeader("Origin") != null) {
            super.handle(target, baseRequest, request, response);
            return;
        }
        RequestData requestData = new RequestData(baseRequest, request);
        ResponseData responseData = new ResponseData(response);
        try {
            requestData.setRequestBody(read(request.getInputStream()));
            packageDynamoDBResponse(requestData, responseData);
        } catch (DynamoDBLocalServiceException e) {
            response.setStatus(e.getStatusCode());
            responseData.setResponseBody(jsonMapper.writeValueAsBytes(
                    new ExceptionBean(e.getErrorCode(), e.getMessage(), e.getCancellationReasons())));
        } catch (Exception e) {
            AmazonServiceExceptionType failure = AmazonServiceExceptionType.INTERNAL_FAILURE;
            response.setStatus(failure.getResponseStatus());
            responseData.setResponseBody(jsonMapper.writeValueAsBytes(new ExceptionBean(failure)));
        }
        baseRequest.setHandled(true);
        response.setHeader("x-amzn-RequestId", UUID.randomUUID().toString());
        response.getOutputStream().write(responseData.getResponseBody());
    }

    private static byte[] read(InputStream in) throws IOException {
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        byte[] chunk = new byte[CHUNK];
        int total = 0;
        for (int n; (n = in.read(chunk)) != -1; ) {
            total += n;
            if (total > MAX_REQUEST_SIZE) {
                throw AWSExceptionFactory.buildAWSException(AmazonServiceExceptionType.REQUEST_TOO_LARGE);
            }
            body.write(chunk, 0, n);
        }
        return body.toByteArray();
    }
}
