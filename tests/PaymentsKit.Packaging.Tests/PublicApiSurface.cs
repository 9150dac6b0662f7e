using System.Globalization;
using System.Reflection;
using System.Runtime.CompilerServices;

namespace PaymentsKit.Packaging.Tests;

/// <summary>
/// Writes an assembly's public surface, everything code outside it can compile or bind against, as one
/// line per type and per member, in a stable order and with nothing that changes between builds or machines.
/// </summary>
/// <remarks>
/// A type's line comes first ("public sealed class PaymentsKit.X : Base, IFace"), then its members,
/// each prefixed by the type ("PaymentsKit.X: public void Do(int count = 3)") so that a line read alone,
/// as a test failure prints it, still says where it belongs. Types are ordered by name and members within a
/// type ordinally. Signatures carry what binary compatibility depends on (parameter and return types,
/// ref kinds, optional defaults, modifiers, accessors, constant values) plus parameter names and
/// nullable-reference annotations, which only source compatibility depends on but which callers see.
/// </remarks>
internal static class PublicApiSurface
{
    private const BindingFlags Declared =
        BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;

    private static readonly Dictionary<Type, string> Keywords = new()
    {
        [typeof(void)] = "void",
        [typeof(object)] = "object",
        [typeof(string)] = "string",
        [typeof(bool)] = "bool",
        [typeof(char)] = "char",
        [typeof(byte)] = "byte",
        [typeof(sbyte)] = "sbyte",
        [typeof(short)] = "short",
        [typeof(ushort)] = "ushort",
        [typeof(int)] = "int",
        [typeof(uint)] = "uint",
        [typeof(long)] = "long",
        [typeof(ulong)] = "ulong",
        [typeof(nint)] = "nint",
        [typeof(nuint)] = "nuint",
        [typeof(float)] = "float",
        [typeof(double)] = "double",
        [typeof(decimal)] = "decimal",
    };

    /// <summary>The surface of <paramref name="assembly"/>, one line per type and member.</summary>
    public static IReadOnlyList<string> Lines(Assembly assembly)
    {
        var nullability = new NullabilityInfoContext();
        var lines = new List<string>();
        foreach (var type in assembly.GetTypes().Where(IsVisible).OrderBy(TypeName, StringComparer.Ordinal))
        {
            lines.Add(TypeLine(type, nullability));
            lines.AddRange(Members(type, nullability).Select(member => $"{TypeName(type)}: {member}").Order(StringComparer.Ordinal));
        }

        return lines;
    }

    // A nested type is visible outside the assembly when it is public or protected and so is every type around it.
    // Protected members of a sealed type are not: no other assembly can derive from it to reach them.
    private static bool IsVisible(Type type) =>
        type.IsNested
            ? (type.IsNestedPublic || ((type.IsNestedFamily || type.IsNestedFamORAssem) && !type.DeclaringType!.IsSealed)) && IsVisible(type.DeclaringType!)
            : type.IsPublic;

    private static bool IsVisible(MethodBase? method) =>
        method is not null && (method.IsPublic || ((method.IsFamily || method.IsFamilyOrAssembly) && !method.DeclaringType!.IsSealed));

    private static bool IsVisible(FieldInfo field) =>
        field.IsPublic || ((field.IsFamily || field.IsFamilyOrAssembly) && !field.DeclaringType!.IsSealed);

    private static string Access(MethodBase method) =>
        method.IsPublic ? "public" : method.IsFamilyOrAssembly ? "protected internal" : "protected";

    private static string Access(FieldInfo field) =>
        field.IsPublic ? "public" : field.IsFamilyOrAssembly ? "protected internal" : "protected";

    private static string TypeName(Type type) => Named(type, [.. type.GetGenericArguments().Select(GenericParameter)]);

    private static string TypeLine(Type type, NullabilityInfoContext nullability)
    {
        var access = !type.IsNested || type.IsNestedPublic ? "public" : type.IsNestedFamORAssem ? "protected internal" : "protected";
        if (type.IsSubclassOf(typeof(Delegate)))
        {
            var invoke = type.GetMethod("Invoke")!;
            return $"{access} delegate {Return(invoke, nullability)} {TypeName(type)}({Parameters(invoke, nullability)}){Constraints(type.GetGenericArguments())}";
        }

        if (type.IsEnum)
        {
            var flags = type.IsDefined(typeof(FlagsAttribute), inherit: false) ? "[Flags] " : string.Empty;
            return $"{flags}{access} enum {TypeName(type)} : {Format(Enum.GetUnderlyingType(type))}";
        }

        var modifiers = new List<string> { access };
        string kind;
        if (type.IsInterface)
        {
            kind = "interface";
        }
        else if (type.IsValueType)
        {
            if (type.IsDefined(typeof(IsReadOnlyAttribute), inherit: false))
            {
                modifiers.Add("readonly");
            }

            if (type.IsByRefLike)
            {
                modifiers.Add("ref");
            }

            kind = "struct";
        }
        else
        {
            modifiers.Add(type is { IsAbstract: true, IsSealed: true } ? "static" : type.IsAbstract ? "abstract" : type.IsSealed ? "sealed" : string.Empty);
            kind = "class";
        }

        // Every interface the type can be converted to, inherited ones included: dropping one from a base breaks callers too.
        var bases = type.GetInterfaces().Select(Format).Order(StringComparer.Ordinal).ToList();
        if (type.BaseType is { } baseType && baseType != typeof(object) && baseType != typeof(ValueType))
        {
            bases.Insert(0, Format(baseType));
        }

        var inheritance = bases.Count == 0 ? string.Empty : " : " + string.Join(", ", bases);
        return $"{string.Join(' ', modifiers.Where(m => m.Length > 0))} {kind} {TypeName(type)}{inheritance}{Constraints(type.GetGenericArguments())}";
    }

    private static IEnumerable<string> Members(Type type, NullabilityInfoContext nullability)
    {
        if (type.IsSubclassOf(typeof(Delegate)))
        {
            yield break;
        }

        if (type.IsEnum)
        {
            foreach (var field in type.GetFields(BindingFlags.Public | BindingFlags.Static))
            {
                yield return string.Create(CultureInfo.InvariantCulture, $"{field.Name} = {field.GetRawConstantValue()}");
            }

            yield break;
        }

        var accessors = new HashSet<MethodInfo>();
        foreach (var property in type.GetProperties(Declared))
        {
            accessors.UnionWith(property.GetAccessors(nonPublic: true));
            if (Property(property, nullability) is { } line)
            {
                yield return line;
            }
        }

        foreach (var @event in type.GetEvents(Declared))
        {
            accessors.UnionWith(new[] { @event.AddMethod, @event.RemoveMethod, @event.RaiseMethod }.OfType<MethodInfo>());
            if (IsVisible(@event.AddMethod))
            {
                var add = @event.AddMethod!;
                yield return $"{Modifiers(add)} event {Format(@event.EventHandlerType!, nullability.Create(@event).ReadState, nullability.Create(@event))} {@event.Name}";
            }
        }

        foreach (var field in type.GetFields(Declared).Where(IsVisible))
        {
            yield return Field(field, nullability);
        }

        foreach (var constructor in type.GetConstructors(Declared).Where(c => !c.IsStatic && IsVisible(c)))
        {
            yield return $"{Access(constructor)} {SimpleName(type)}({Parameters(constructor, nullability)})";
        }

        foreach (var method in type.GetMethods(Declared).Where(m => IsVisible(m) && !accessors.Contains(m)))
        {
            var generic = method.IsGenericMethodDefinition ? $"<{string.Join(", ", method.GetGenericArguments().Select(GenericParameter))}>" : string.Empty;
            yield return $"{Modifiers(method)} {Return(method, nullability)} {method.Name}{generic}({Parameters(method, nullability)}){Constraints(method.GetGenericArguments())}";
        }
    }

    private static string? Property(PropertyInfo property, NullabilityInfoContext nullability)
    {
        var get = IsVisible(property.GetMethod) ? property.GetMethod : null;
        var set = IsVisible(property.SetMethod) ? property.SetMethod : null;
        var main = get ?? set;
        if (main is null)
        {
            return null;
        }

        // The property takes the wider accessor's access; the narrower one says its own, as C# writes it.
        if (get is not null && set is not null && Access(set) == "public" && Access(get) != "public")
        {
            main = set;
        }

        var info = nullability.Create(property);
        var state = get is not null ? info.ReadState : info.WriteState;
        var required = property.IsDefined(typeof(RequiredMemberAttribute), inherit: false) ? "required " : string.Empty;
        var indexParameters = property.GetIndexParameters();
        var name = indexParameters.Length == 0
            ? property.Name
            : $"this[{string.Join(", ", indexParameters.Select(p => Parameter(p, nullability)))}]";

        var body = new List<string>();
        if (get is not null)
        {
            body.Add((Access(get) == Access(main) ? string.Empty : Access(get) + " ") + "get;");
        }

        if (set is not null)
        {
            var init = set.ReturnParameter.GetRequiredCustomModifiers().Contains(typeof(IsExternalInit));
            body.Add((Access(set) == Access(main) ? string.Empty : Access(set) + " ") + (init ? "init;" : "set;"));
        }

        var byRef = property.PropertyType.IsByRef ? "ref " : string.Empty;
        return $"{Modifiers(main)} {required}{byRef}{Format(property.PropertyType, state, info)} {name} {{ {string.Join(' ', body)} }}";
    }

    private static string Field(FieldInfo field, NullabilityInfoContext nullability)
    {
        var info = nullability.Create(field);
        var type = Format(field.FieldType, info.ReadState, info);
        var required = field.IsDefined(typeof(RequiredMemberAttribute), inherit: false) ? "required " : string.Empty;
        if (field.IsLiteral)
        {
            return $"{Access(field)} const {type} {field.Name} = {Literal(field.GetRawConstantValue(), field.FieldType)}";
        }

        // A decimal constant is compiled as a static readonly field carrying its value in an attribute.
        if (field.GetCustomAttribute<DecimalConstantAttribute>() is { } constant)
        {
            return $"{Access(field)} const {type} {field.Name} = {Literal(constant.Value, field.FieldType)}";
        }

        var modifiers = (field.IsStatic ? "static " : string.Empty) + (field.IsInitOnly ? "readonly " : string.Empty);
        return $"{Access(field)} {modifiers}{required}{type} {field.Name}";
    }

    private static string Modifiers(MethodInfo method)
    {
        var modifiers = new List<string> { Access(method) };
        if (method.IsStatic)
        {
            modifiers.Add("static");
        }

        var overrides = method.GetBaseDefinition() != method;
        if (method.IsAbstract)
        {
            modifiers.Add(overrides ? "abstract override" : "abstract");
        }
        else if (method.IsVirtual && !method.IsFinal)
        {
            modifiers.Add(overrides ? "override" : "virtual");
        }
        else if (method.IsVirtual && overrides)
        {
            modifiers.Add("sealed override");
        }

        // A virtual final method that overrides nothing is how C# compiles a plain method implementing an interface.
        return string.Join(' ', modifiers);
    }

    private static string Return(MethodInfo method, NullabilityInfoContext nullability)
    {
        var info = nullability.Create(method.ReturnParameter);
        var type = method.ReturnType;
        if (!type.IsByRef)
        {
            return Format(type, info.ReadState, info);
        }

        var readOnly = method.ReturnParameter.IsDefined(typeof(IsReadOnlyAttribute), inherit: false) ? "ref readonly " : "ref ";
        return readOnly + Format(type.GetElementType()!, info.ReadState, info);
    }

    private static string Parameters(MethodBase method, NullabilityInfoContext nullability)
    {
        var parameters = method.GetParameters();
        var extension = method.IsDefined(typeof(ExtensionAttribute), inherit: false) ? "this " : string.Empty;
        return extension + string.Join(", ", parameters.Select(p => Parameter(p, nullability)));
    }

    private static string Parameter(ParameterInfo parameter, NullabilityInfoContext nullability)
    {
        var info = nullability.Create(parameter);
        var type = parameter.ParameterType;
        var prefix = parameter.IsDefined(typeof(ParamArrayAttribute), inherit: false)
            || parameter.IsDefined(typeof(ParamCollectionAttribute), inherit: false) ? "params " : string.Empty;
        if (type.IsByRef)
        {
            type = type.GetElementType()!;
            prefix += parameter.IsOut ? "out "
                : parameter.IsDefined(typeof(RequiresLocationAttribute), inherit: false) ? "ref readonly "
                : parameter.IsIn ? "in "
                : "ref ";
        }

        var state = parameter.IsOut ? info.ReadState : info.WriteState;
        var text = $"{prefix}{Format(type, state, info)} {parameter.Name}";
        return parameter.HasDefaultValue ? $"{text} = {Literal(parameter.RawDefaultValue, type)}" : text;
    }

    private static string Literal(object? value, Type type) => value switch
    {
        null => type.IsValueType && Nullable.GetUnderlyingType(type) is null ? "default" : "null",
        string text => "\"" + text.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"",
        char character => $"'{character}'",
        bool flag => flag ? "true" : "false",
        IFormattable number => number.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? string.Empty,
    };

    private static string GenericParameter(Type parameter)
    {
        var variance = parameter.GenericParameterAttributes & GenericParameterAttributes.VarianceMask;
        return variance switch
        {
            GenericParameterAttributes.Covariant => "out ",
            GenericParameterAttributes.Contravariant => "in ",
            _ => string.Empty,
        } + parameter.Name;
    }

    private static string Constraints(Type[] parameters)
    {
        var clauses = new List<string>();
        foreach (var parameter in parameters.Where(p => p.IsGenericParameter))
        {
            var attributes = parameter.GenericParameterAttributes;
            var constraints = new List<string>();
            var isStruct = attributes.HasFlag(GenericParameterAttributes.NotNullableValueTypeConstraint);
            if (attributes.HasFlag(GenericParameterAttributes.ReferenceTypeConstraint))
            {
                constraints.Add("class");
            }

            if (isStruct)
            {
                constraints.Add(parameter.IsDefined(typeof(IsUnmanagedAttribute), inherit: false) ? "unmanaged" : "struct");
            }

            constraints.AddRange(parameter.GetGenericParameterConstraints()
                .Where(c => !(isStruct && c == typeof(ValueType)))
                .Select(Format)
                .Order(StringComparer.Ordinal));
            if (attributes.HasFlag(GenericParameterAttributes.DefaultConstructorConstraint) && !isStruct)
            {
                constraints.Add("new()");
            }

            if (attributes.HasFlag(GenericParameterAttributes.AllowByRefLike))
            {
                constraints.Add("allows ref struct");
            }

            if (constraints.Count > 0)
            {
                clauses.Add($" where {parameter.Name} : {string.Join(", ", constraints)}");
            }
        }

        return string.Concat(clauses);
    }

    private static string Format(Type type) => Format(type, NullabilityState.Unknown, null);

    // The C# spelling of a type, fully qualified, with "?" where its nullable-reference annotation says so.
    private static string Format(Type type, NullabilityState state, NullabilityInfo? info)
    {
        var nullable = state == NullabilityState.Nullable && !type.IsValueType ? "?" : string.Empty;
        if (type.IsGenericParameter)
        {
            return type.Name + nullable;
        }

        if (Nullable.GetUnderlyingType(type) is { } underlying)
        {
            return Format(underlying, NullabilityState.Unknown, info?.GenericTypeArguments.FirstOrDefault()) + "?";
        }

        if (type.IsArray)
        {
            var element = info?.ElementType;
            var rank = type.GetArrayRank();
            return $"{Format(type.GetElementType()!, element?.ReadState ?? NullabilityState.Unknown, element)}[{new string(',', rank - 1)}]{nullable}";
        }

        if (type.IsPointer)
        {
            return Format(type.GetElementType()!) + "*";
        }

        if (Keywords.TryGetValue(type, out var keyword))
        {
            return keyword + nullable;
        }

        var arguments = type.GetGenericArguments();
        var formatted = new string[arguments.Length];
        for (var i = 0; i < arguments.Length; i++)
        {
            var argument = info is not null && i < info.GenericTypeArguments.Length ? info.GenericTypeArguments[i] : null;
            formatted[i] = Format(arguments[i], argument?.ReadState ?? NullabilityState.Unknown, argument);
        }

        return Named(type, formatted) + nullable;
    }

    // Outer<A>.Inner<B>: a nested type's generic arguments are listed together, the enclosing type's first.
    private static string Named(Type type, IReadOnlyList<string> arguments)
    {
        var definition = type.IsGenericType ? type.GetGenericTypeDefinition() : type;
        string prefix;
        var own = arguments;
        if (definition.DeclaringType is { } declaring)
        {
            var outer = declaring.GetGenericArguments().Length;
            prefix = Named(declaring, [.. arguments.Take(outer)]);
            own = [.. arguments.Skip(outer)];
        }
        else
        {
            prefix = definition.Namespace ?? string.Empty;
        }

        var name = SimpleName(definition);
        var generic = own.Count == 0 ? string.Empty : $"<{string.Join(", ", own)}>";
        return prefix.Length == 0 ? name + generic : $"{prefix}.{name}{generic}";
    }

    private static string SimpleName(Type type)
    {
        var tick = type.Name.IndexOf('`', StringComparison.Ordinal);
        return tick < 0 ? type.Name : type.Name[..tick];
    }
}
